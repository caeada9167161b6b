"""Hostile input from the pipeline and from the REST target: the delivery loop survives it, item by item."""

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smartcam.uploader.backoff import RETRY_AFTER_MAX_S, RETRY_AFTER_MIN_S, parse_retry_after
from smartcam.uploader.delivery import MAX_REPLY_BYTES

from .conftest import Reply, damage_stored_event, delivered


def test_stored_events_with_hostile_ids_are_dead_lettered_and_the_rest_delivered(target, start_delivery,
                                                                                  make_event, wait_until, caplog):
    """Stored before ids were checked at the wire (or put by anything else): once a permanent crash loop."""
    hostile = ["poison-€", "evil\r\nX-Injected: 1"]

    def store_all(queue):  # all stored before the delivery thread can claim any
        for n, event_id in enumerate(hostile):
            event = make_event(n)
            event.event_id = event_id
            queue.put(event)
        queue.put(make_event(5))

    queue, _ = start_delivery(target.url, before=store_all)
    with caplog.at_level(logging.WARNING):
        assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-5"]  # the hostile ones never reached the wire
    letters = {letter.event_id: letter.reason for letter in queue.snapshot().dead_letters}
    assert set(letters) == set(hostile)
    assert all("not a valid event id" in reason for reason in letters.values())
    assert queue.figures().queued == 0


def test_an_unexpected_error_building_one_request_dead_letters_only_that_event(target, start_delivery, make_event,
                                                                                wait_until):
    def store_and_damage(queue):  # before delivery starts, so it is damaged before it can be claimed
        queue.put(make_event(1))
        damage_stored_event(  # a capture time that is a number: the payload model refuses it
            queue.directory, "evt-1", "metadata = json_set(metadata, '$.captured_at', 5)")
        queue.put(make_event(2))

    queue, _ = start_delivery(target.url, payload_format="multipart", before=store_and_damage)
    assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-2"]
    [letter] = queue.snapshot().dead_letters
    assert (letter.event_id, "captured_at" in letter.reason) == ("evt-1", True)


# -- Retry-After ---------------------------------------------------------------------------------


def test_retry_after_is_ascii_digits_or_an_http_date_clamped_to_one_second_and_one_hour():
    now = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
    assert parse_retry_after("²", now) is None  # str.isdigit() says yes, float() says ValueError
    assert parse_retry_after("١٢", now) is None  # Arabic-Indic digits
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after("1e3", now) is None
    assert parse_retry_after("0", now) == RETRY_AFTER_MIN_S == 1
    assert parse_retry_after("9" * 5000, now) == RETRY_AFTER_MAX_S == 3600
    assert parse_retry_after("Fri, 27 Nov 2026 05:00:00 GMT", now) == 1  # in the past: the minimum
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 -2359", now) == 3600
    assert parse_retry_after("Fri, 99 Nov 2026 05:00:00 GMT", now) is None


def test_an_unreadable_retry_after_is_ignored_counted_and_logged_once(target, start_delivery, make_event,
                                                                       wait_until, counters, caplog):
    target.script.extend([Reply(503, {"Retry-After": "²"}), Reply(429, {"Retry-After": "soon"})])
    queue, _ = start_delivery(target.url)
    with caplog.at_level(logging.WARNING):
        queue.put(make_event(1))
        assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-1"] * 3
    assert counters.get("delivery.retry_after.unreadable") == 2
    assert caplog.text.count("Retry-After") == 1


# -- replies: size cap and total deadline ------------------------------------------------------------


class HostileTarget:
    """An HTTP server on loopback whose first reply is hostile (huge or dripped), then plain 200s."""

    def __init__(self, mode, *, body_bytes=0, drip_every_s=0.2):
        self.mode = mode
        self.sent_bytes = 0
        self.requests = 0
        self.finished = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                try:
                    if server.requests == 1:
                        server.hostile(self)
                    else:
                        self.send_response(200)
                        self.send_header("Content-Length", "2")
                        self.end_headers()
                        self.wfile.write(b"ok")
                except OSError:
                    self.close_connection = True  # the uploader hung up: what it should do
                finally:
                    if server.requests == 1:
                        server.finished.set()

            def log_message(self, *args):
                pass

        self.body_bytes = body_bytes
        self.drip_every_s = drip_every_s
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def hostile(self, handler):
        if self.mode == "huge":
            handler.send_response(200)
            handler.send_header("Content-Length", str(self.body_bytes))
            handler.end_headers()
            chunk = b"x" * (1 << 20)
            while self.sent_bytes < self.body_bytes:
                handler.wfile.write(chunk)
                self.sent_bytes += len(chunk)
            return
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        dripped = head + b"y" * 100 if self.mode == "drip_headers" else b"y" * 100
        if self.mode == "drip_body":
            handler.wfile.write(head)
            handler.wfile.flush()
        deadline = time.monotonic() + 30  # bounded even if the uploader never hangs up
        for byte in dripped:
            if time.monotonic() > deadline:
                break
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(self.drip_every_s)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile_target():
    made = []

    def make(mode, **options):
        made.append(HostileTarget(mode, **options))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_a_huge_2xx_reply_is_read_only_up_to_the_cap(hostile_target, start_delivery, make_event, wait_until):
    """Once read whole (a 1.5 GB body cost 3.2 GB of memory); only the status and a short head matter."""
    server = hostile_target("huge", body_bytes=256 << 20)
    queue, _ = start_delivery(server.url, read_timeout_s=10.0)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    assert server.finished.wait(20)
    # The uploader hung up after MAX_REPLY_BYTES; what the server got out before is socket buffers only.
    assert MAX_REPLY_BYTES <= 64 * 1024
    assert server.sent_bytes < 64 << 20, f"the server sent {server.sent_bytes} bytes: the reply was read whole"
    assert server.requests == 1


@pytest.mark.parametrize("mode", ["drip_body", "drip_headers"])
def test_a_dripped_reply_ends_at_the_attempt_deadline_and_is_retried(hostile_target, start_delivery, make_event,
                                                                     wait_until, counters, mode):
    """One byte every 0.2 s never trips the 5 s read timeout; the total deadline (1 s here) ends the attempt."""
    server = hostile_target(mode, drip_every_s=0.2)
    queue, deliverer = start_delivery(server.url, read_timeout_s=5.0, attempt_deadline_s=1.0)
    started = time.monotonic()
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1), timeout_s=15)  # the drip alone would take 28 s (body) / 36 s (headers)
    assert time.monotonic() - started < 15
    assert server.requests == 2  # the cut-short attempt failed and was retried under the same Idempotency-Key
    assert queue.figures().retried == 1
    assert counters.get("delivery.outage") == 1
    assert "SMARTCAM_ATTEMPT_DEADLINE_S" in deliverer.errors.snapshot()[0]["error"]


def test_replies_within_the_cap_keep_the_connection_for_the_next_upload(start_delivery, make_event, wait_until):
    """Reading replies under a cap and a deadline must not cost keep-alive (a TLS handshake per upload on 2G)."""
    peers = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            peers.append(self.client_address)
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"z" * 1000)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        queue, _ = start_delivery(f"http://127.0.0.1:{server.server_address[1]}/events")
        for n in range(3):
            queue.put(make_event(n))
        assert wait_until(delivered(queue, 3))
        assert len(peers) == 3
        assert len(set(peers)) == 1  # one connection for all three
    finally:
        server.shutdown()
        server.server_close()


def test_a_dripped_tls_handshake_ends_at_the_attempt_deadline(start_delivery, make_event, wait_until):
    """The server accepts, announces a 16 kB TLS record and drips it; the 5 s timeouts are not what ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip():
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)  # the ClientHello
            connection.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 kB follows... slowly
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"\x00")
                except OSError:
                    return  # the uploader hung up

    threading.Thread(target=drip, daemon=True).start()
    try:
        queue, deliverer = start_delivery(f"https://127.0.0.1:{listener.getsockname()[1]}/events", tls_verify=False,
                                          connect_timeout_s=5.0, read_timeout_s=5.0, attempt_deadline_s=1.0,
                                          backoff_base_s=30.0, backoff_cap_s=30.0)
        queue.put(make_event(1))
        assert wait_until(lambda: deliverer.last_error is not None, timeout_s=15)
        assert "SMARTCAM_ATTEMPT_DEADLINE_S" in deliverer.last_error
        assert queue.figures().queued == 1  # kept for the retry
    finally:
        stop.set()
        listener.close()
