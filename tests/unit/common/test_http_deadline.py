"""The shared HTTP deadline itself: which sockets it shuts, when, and what it leaves alone.

The services' behaviour under it (dripped replies, a dripped TLS handshake, keep-alive) is tested in
tests/unit/uploader/test_hostile.py and tests/unit/updater/test_hostile_manifests.py.
"""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from smartcam.common import http_deadline
from smartcam.common.http_deadline import DeadlineAdapter, Watch, bounded_session, deadline


def wait_until(condition, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(10)  # bounded even if nothing shuts it
    yield a, b
    a.close()
    b.close()


class _Drip(BaseHTTPRequestHandler):
    """A reply without a length whose body comes one byte every 0.01 s, for ever."""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            while not self.server.stop.wait(0.01):
                self.wfile.write(b"x")
                self.wfile.flush()
        except OSError:
            return

    def log_message(self, *args):
        pass


@pytest.fixture
def dripping_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    server.stop = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.stop.set()
    server.shutdown()
    server.server_close()


def test_a_dripped_body_on_a_bounded_session_ends_at_the_deadline(dripping_url):
    session = bounded_session()
    read = 0
    with deadline(0.5) as watch, session.get(dripping_url, stream=True, timeout=(5, 5)) as response:
        try:
            for chunk in response.iter_content(1):
                read += len(chunk)
                if read > 1000:  # bounded: about 10 s of dripping
                    break
        except (requests.RequestException, OSError):
            pass
    assert watch.expired
    assert read <= 1000  # ended by the deadline, not by the test's bound
    assert watch.remaining() == 0.0


def test_a_socket_registered_after_the_deadline_is_shut(pair):
    a, _ = pair
    with deadline(0.05) as watch:
        assert wait_until(lambda: watch.expired)
        http_deadline._register(lambda: a)
        assert a.recv(1) == b""  # shut, not left to block until the 10 s timeout


def test_expired_before_connecting_the_guard_looks_again_until_a_socket_is_there(pair):
    a, _ = pair
    connected: list[socket.socket] = []
    with deadline(0.05) as watch:
        http_deadline._register(lambda: connected[0] if connected else None)  # like a connection not yet made
        assert wait_until(lambda: watch.expired)
        connected.append(a)  # connected late, registered no further
        assert a.recv(1) == b""


def test_a_finished_request_leaves_its_kept_alive_socket_alone(pair):
    a, b = pair
    watch = Watch(0.0)
    watch.add(lambda: a)
    watch.close()  # the request is over; the socket waits in the pool for the next one
    watch.expire()
    b.sendall(b"y")
    assert a.recv(1) == b"y"


def test_the_heartbeat_beats_while_the_request_runs_and_never_after():
    beats: list[int] = []
    with deadline(60, heartbeat=lambda: beats.append(1), heartbeat_every_s=0.02):
        assert wait_until(lambda: len(beats) >= 2)
    after = len(beats)
    time.sleep(0.1)
    assert len(beats) == after  # the guard has ended with the request


def test_plain_and_proxied_connections_are_watched_for_http_and_https():
    adapter = DeadlineAdapter()
    for manager in (adapter.poolmanager, adapter.proxy_manager_for("http://127.0.0.1:3128")):
        for scheme in ("http", "https"):
            assert issubclass(manager.pool_classes_by_scheme[scheme].ConnectionCls, http_deadline._Watched)
