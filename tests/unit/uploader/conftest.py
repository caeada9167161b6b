"""Real parts for uploader tests: a scripted HTTP server on loopback, temp queue dirs, real events."""

import json
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smartcam.common.pipeline_keys import CurveClient, own_keys, read_public_key
from smartcam.common.settings import load_settings
from smartcam.common.wire import Detection, Event, Location, ModelRef
from smartcam.uploader import db
from smartcam.uploader.auth import auth_headers
from smartcam.uploader.data_budget import DataBudget
from smartcam.uploader.delivery import Deliverer, make_session
from smartcam.uploader.heartbeat import Heartbeat
from smartcam.uploader.queue import EventQueue
from smartcam.uploader.settings import UploaderSettings
from smartcam.uploader.target import resolve_heartbeat_target, resolve_target
from smartcam.uploader.windows import UploadWindows

BASE_TIME = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


BERLIN = Location(52.52, 13.405)


def _make_event(n, *, sample=False, seconds=None, image=JPEG, location=BERLIN):
    """Event number n, captured n seconds after BASE_TIME unless `seconds` says otherwise."""
    captured = BASE_TIME + timedelta(seconds=n if seconds is None else seconds)
    detections = [] if sample else [Detection("face", 0.87654, (0.1, 0.2, 0.5, 0.6))]
    return Event(f"evt-{n}", "cam-1", n, captured, location, detections, ModelRef("blazeface", "ab" * 32),
                 sample, image)


@dataclass
class Reply:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay_s: float = 0.0


@dataclass
class Received:
    at: float
    path: str
    headers: dict
    body: bytes
    status: int

    @property
    def event_id(self):
        return self.headers.get("Idempotency-Key")


class ScriptedTarget:
    """The REST endpoint: answers from a script (one reply per request), then by `rule`, then 200."""

    def __init__(self, port=0):
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.rule = None  # callable(event_id) -> Reply | None
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = target._reply_for(self.headers.get("Idempotency-Key"))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                with target._lock:
                    target.requests.append(Received(time.monotonic(), self.path, dict(self.headers), body,
                                                    reply.status))
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (read timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _reply_for(self, event_id):
        with self._lock:
            if self.script:
                return self.script.popleft()
        return (self.rule and self.rule(event_id)) or Reply()

    def event_requests(self):
        """Requests to the events URL (heartbeats go to their own path)."""
        with self._lock:
            return [r for r in self.requests if r.path == "/events"]

    def heartbeats(self):
        with self._lock:
            return [r for r in self.requests if r.path == "/heartbeat"]

    def delivered_ids(self):
        return [r.event_id for r in self.event_requests() if 200 <= r.status < 300]

    def ids(self):
        return [r.event_id for r in self.event_requests()]

    def json_bodies(self):
        return [json.loads(r.body) for r in self.event_requests()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    server = ScriptedTarget()
    yield server
    server.close()



@pytest.fixture
def make_settings(tmp_path, monkeypatch):
    """Settings with short timeouts and backoffs, isolated from the machine's environment and /etc."""
    for name in list(os.environ):
        if name.startswith("SMARTCAM_"):
            monkeypatch.delenv(name)

    def make(**overrides):
        values = {
            "queue_dir": tmp_path / "queue", "config_mount": tmp_path / "etc-smartcam",
            "legacy_url_file": tmp_path / "esb_url", "health_file": tmp_path / "health.json",
            "connect_timeout_s": 1.0, "read_timeout_s": 2.0, "backoff_base_s": 0.05, "backoff_cap_s": 0.2,
            "camera_id": "cam-1", "pipeline_keys_dir": tmp_path / "pipeline-keys",
        }
        values.update(overrides)
        return load_settings(UploaderSettings, **values)

    return make


def _wait_until(condition, timeout_s=10.0, interval_s=0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


@pytest.fixture
def make_event():
    return _make_event


def as_infer(keys_dir):
    """CURVE options of a sender holding infer's keys, once the uploader has published its own."""
    assert _wait_until(lambda: read_public_key(keys_dir, "uploader") is not None), "the uploader made no key"
    return CurveClient(own_keys(keys_dir, "infer"), read_public_key(keys_dir, "uploader"))


@pytest.fixture
def wait_until():
    return _wait_until


@pytest.fixture
def start_delivery(make_settings, logger, counters):
    running = []

    def start(url, *, before=None, heartbeat=False, clock=time.time, **overrides):
        """`before(queue)` runs before the delivery thread starts: what it stores is all waiting at once.
        With `heartbeat`, the deliverer also sends the real heartbeat, as the service does.
        `clock`: the wall clock the upload windows are judged by."""
        settings = make_settings(upload_url=url, **overrides)
        queue = EventQueue(settings.queue_dir, settings.queue_budget_bytes, logger, counters)
        if before is not None:
            before(queue)
        stop = threading.Event()
        events = resolve_target(settings, logger)
        beats = None
        budget = DataBudget.for_settings(settings, queue)
        windows = UploadWindows(settings.windows, clock)
        if heartbeat:
            beats = (Heartbeat(settings, queue, queue.errors, logger, counters, budget=budget, windows=windows),
                     resolve_heartbeat_target(settings, events))
        deliverer = Deliverer(queue, events, settings=settings,
                              session=make_session(settings, auth_headers(settings)), logger=logger,
                              counters=counters, stop=stop, heartbeat=beats, budget=budget, windows=windows)
        thread = threading.Thread(target=deliverer.run, daemon=True)
        thread.start()
        running.append((stop, thread, queue))
        return queue, deliverer

    yield start
    for stop, thread, queue in running:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
        queue.close()


def wire_bytes_seen(request):
    """What the target read off the socket for one request: request line, headers, body."""
    head = f"POST {request.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return len(head) + 2 + len(request.body)


def backlog(make_event, count):
    """A `before=` for start_delivery: `count` events stored before delivery starts (a backlog after an outage)."""
    def store(queue):
        for n in range(count):
            queue.put(make_event(n))
    return store


def delivered(queue, count):
    return lambda: queue.figures().delivered == count


def damage_stored_event(queue_dir, event_id, assignment):
    """Damage a stored event on disk, as a bad card or an older version could (`assignment`: SQL `SET` clause).

    Writes the database file through a connection of its own, the way anything outside the service would.
    """
    connection = sqlite3.connect(queue_dir / db.DB_NAME, isolation_level=None)
    try:
        changed = connection.execute(f"UPDATE events SET {assignment} WHERE event_id = ?", (event_id,)).rowcount
    finally:
        connection.close()
    assert changed == 1, f"no stored event {event_id} to damage"
