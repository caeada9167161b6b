"""The updater against hostile model publications: bad fields, huge manifests, servers that drip bytes.

A real HTTP server on loopback and the real model-update step (as test_model_updates.py drives it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.updater.main import UpdateRound
from smartcam.updater.models import http
from smartcam.updater.models.store import ModelStore
from smartcam.updater.models.updater import ModelUpdater
from smartcam.updater.settings import UpdaterSettings
from tests.signing import Signer

ROOT = Path(__file__).resolve().parents[3]
BLAZEFACE = json.loads((ROOT / "services/infer/models/blazeface-short-range/manifest.json").read_text())
TINY_SSD_DIR = ROOT / "tests/fixtures/models/tiny-ssd"
LOGGER = logging.getLogger("test.hostile")
TINY_SSD = json.loads((TINY_SSD_DIR / "manifest.json").read_text())
TINY_SSD_FILE = (TINY_SSD_DIR / TINY_SSD["model_file"]).read_bytes()


def good_manifest(**changes: object) -> dict:
    return {**TINY_SSD, "sha256": hashlib.sha256(TINY_SSD_FILE).hexdigest(), "size_bytes": len(TINY_SSD_FILE),
            "url": "model.tflite", **changes}


def make_updater(server: HostileServer, device: tuple, counters: Counters | None = None,
                 heartbeat: Callable[[], None] | None = None, **overrides: object) -> ModelUpdater:
    """The real model updater of a device (`device` fixture, conftest.py) polling `server`."""
    models, infer_state, history = device
    url = f"{server.url}/{{channel}}/manifest.json"
    settings = UpdaterSettings(**{"channel": "devrelease", "model_manifest_url": url, "models_dir": models,
                                  "infer_state_dir": infer_state, "model_min_free_mb": 0,
                                  "release_signers": server.signer.allowed_signers, **overrides})
    return ModelUpdater(settings, history, LOGGER, counters or Counters(), heartbeat=heartbeat)


def model_dirs(models: Path) -> list[str]:
    return sorted(path.name for path in models.iterdir() if path.is_dir())


class HostileServer:
    """Loopback HTTP server whose routes write their answer themselves; counts what each route sent."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.sent: dict[str, int] = {}
        self.paths: list[str] = []
        self.done: set[str] = set()  # routes that finished answering (or gave up on a departed client)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except OSError:  # the client gave up: what we want from it
                    self.close_connection = True
                finally:
                    outer.done.add(self.path)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def document(self, path: str, body: bytes) -> None:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        self.routes[path] = answer

    def signed(self, path: str, body: bytes) -> None:
        """Serve `body` with the publisher's signature beside it (`<path>.sig`), as a good publication has."""
        self.document(path, body)
        self.document(f"{path}.sig", self.signer.sign(body))

    def endless(self, path: str, limit_bytes: int) -> None:
        """A body announced as 1 GB and streamed until the client leaves (or `limit_bytes`, to bound a failing test)."""
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(2**30))
            handler.end_headers()
            block = b" " * 65536
            self.sent[path] = 0
            while self.sent[path] < limit_bytes:
                handler.wfile.write(block)
                self.sent[path] += len(block)
            handler.close_connection = True
        self.routes[path] = answer

    def drip(self, path: str, body: bytes, max_bytes: int) -> None:
        """`body` announced whole, sent one byte per second (at most `max_bytes`, to bound a failing test)."""
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.flush()
            self.sent[path] = 0
            for byte in body[:max_bytes]:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                self.sent[path] += 1
                time.sleep(1.0)
            handler.close_connection = True
        self.routes[path] = answer

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def hostile(release_signer):
    served = HostileServer(release_signer)
    yield served
    served.close()


HOSTILE_FIELDS = [
    pytest.param({"model_file": "model\x00.tflite"}, "model_file", id="nul-in-file-name"),
    pytest.param({"model_file": "../../etc/passwd"}, "model_file", id="path-traversal"),
    pytest.param({"model_file": "sub/model.tflite"}, "model_file", id="path-separator"),
    pytest.param({"model_file": ".."}, "model_file", id="dot-dot"),
    pytest.param({"model_file": ".hidden"}, "model_file", id="hidden-file"),
    pytest.param({"model_file": "x" * 500}, "model_file", id="long-file-name"),
    pytest.param({"name": "face\nERROR forged log line"}, "name", id="newline-in-name"),
    pytest.param({"size_bytes": -1}, "size_bytes", id="negative-size"),
    pytest.param({"size_bytes": "229032"}, "size_bytes", id="size-as-string"),
    pytest.param({"size_bytes": 10**30}, "size_bytes", id="absurd-size"),
    pytest.param({"sha256": "ABC"}, "sha256", id="short-sha256"),
    pytest.param({"sha256": "G" * 64}, "sha256", id="non-hex-sha256"),
    pytest.param({"url": "file:///etc/passwd"}, "url", id="file-url"),
    pytest.param({"url": "model .tflite\x00"}, "url", id="control-chars-in-url"),
    pytest.param({"labels": [{"nested": True}]}, "labels", id="labels-not-strings"),
    pytest.param({"surprise": 1}, "surprise", id="unknown-field"),
]


@pytest.mark.parametrize(("changes", "field"), HOSTILE_FIELDS)
def test_hostile_field_is_a_rejected_attempt_recorded_once_never_an_exception(hostile, device, changes, field,
                                                                             caplog):
    models, _, history = device
    hostile.document("/devrelease/manifest.json", json.dumps(good_manifest(**changes)).encode())
    hostile.document("/devrelease/model.tflite", TINY_SSD_FILE)
    counters = Counters()
    with caplog.at_level(logging.ERROR):
        make_updater(hostile, device, counters).step()
        make_updater(hostile, device, counters).step()  # polled again (a restart): counted, not recorded again
    [record] = history.records()
    assert (record.kind, record.result) == ("model", "rejected")
    assert f"field {field}" in record.reason
    assert "\x00" not in record.reason
    assert "\n" not in record.reason
    assert counters.get("models.problems.manifest_invalid") == 2
    assert counters.get("models.rejected") == 1
    assert caplog.text.count("is invalid") == 2  # once per updater (each restart logs its first one)
    assert hostile.paths == ["/devrelease/manifest.json"] * 2  # nothing downloaded
    assert model_dirs(models) == []
    assert ModelStore(models).candidate() is None


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff\xfe not utf-8", b"[" * 5000 + b"]" * 5000])
def test_unparsable_manifest_is_a_rejected_attempt(hostile, device, body):
    _, _, history = device
    hostile.document("/devrelease/manifest.json", body)
    counters = Counters()
    make_updater(hostile, device, counters).step()
    [record] = history.records()
    assert record.result == "rejected"
    assert "is invalid" in record.reason
    assert counters.get("models.problems.manifest_invalid") == 1


def test_corrected_manifest_is_taken_at_once(hostile, device):
    models, _, history = device
    hostile.document("/devrelease/manifest.json", json.dumps(good_manifest(model_file="a\x00b")).encode())
    hostile.document("/devrelease/model.tflite", TINY_SSD_FILE)
    make_updater(hostile, device).step()
    hostile.signed("/devrelease/manifest.json", json.dumps(good_manifest()).encode())
    make_updater(hostile, device).step()
    assert [r.result for r in history.records()] == ["rejected"]
    assert ModelStore(models).candidate().sha256 == good_manifest()["sha256"]


def test_huge_manifest_is_not_read_beyond_the_cap(hostile, device):
    _, _, history = device
    hostile.endless("/devrelease/manifest.json", limit_bytes=256 * 2**20)
    counters = Counters()
    make_updater(hostile, device, counters).step()
    [record] = history.records()
    assert record.result == "rejected"
    assert "over 65536 bytes" in record.reason
    assert counters.get("models.problems.manifest_too_large") == 1
    # What the server managed to write before the updater hung up: the cap plus socket buffers, not 256 MB.
    wait_until(lambda: "/devrelease/manifest.json" in hostile.done)
    assert hostile.sent["/devrelease/manifest.json"] < 32 * 2**20


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_dripped_manifest_ends_at_the_deadline_and_counts_as_a_failure(hostile, device):
    _, _, history = device
    body = json.dumps({**BLAZEFACE, "url": "model.tflite"}).encode()
    hostile.drip("/devrelease/manifest.json", body, max_bytes=6)
    counters = Counters()
    make_updater(hostile, device, counters, model_manifest_timeout_s=1.5).step()
    assert counters.get("models.problems.manifest_deadline") == 1
    assert history.records() == []  # nothing attempted: tried again at the next poll


def test_dripped_model_ends_at_the_deadline_is_recorded_failed_and_health_keeps_being_reported(
        hostile, device, monkeypatch):
    models, _, history = device
    monkeypatch.setattr(http, "HEARTBEAT_EVERY_S", 0.2)
    hostile.signed("/devrelease/manifest.json", json.dumps(good_manifest()).encode())
    hostile.drip("/devrelease/model.tflite", TINY_SSD_FILE, max_bytes=8)
    heartbeats: list[float] = []
    updater = make_updater(hostile, device, heartbeat=lambda: heartbeats.append(time.monotonic()),
                           model_download_timeout_s=1.5)
    images = ImageSteps()
    UpdateRound(updater, images, LOGGER, OncePerKind(LOGGER, Counters(), "loop.failed")).run()
    [record] = history.records()
    assert record.result == "failed"
    assert "did not download within 1.5s" in record.reason
    assert len(heartbeats) >= 2  # the updater's health stayed fresh while the download ran
    assert images.steps == 1  # and the loop went on to image updates
    assert model_dirs(models) == []


class ImageSteps:
    """Stands in for image polling, which needs the Docker daemon: records that the loop reached it."""

    def __init__(self) -> None:
        self.steps = 0

    def step(self) -> None:
        self.steps += 1


class BrokenModels:
    """A model step with a bug no input validation foresaw."""

    def step(self) -> None:
        raise KeyError("candidate_id")


def test_a_failing_model_step_never_stops_image_updates(caplog):
    counters = Counters()
    images = ImageSteps()
    loop = UpdateRound(BrokenModels(), images, LOGGER, OncePerKind(LOGGER, counters, "loop.failed"))
    with caplog.at_level(logging.ERROR):
        loop.run()
        loop.run()
    assert images.steps == 2
    assert counters.get("loop.failed.models_KeyError") == 2
    assert caplog.text.count("image updates go on") == 1


def test_infer_state_from_a_newer_infer_is_reported_with_the_fix(hostile, device, caplog):
    _, infer_state, history = device
    (infer_state / "model-state.json").write_text(json.dumps({"version": 2, "active": None, "verdicts": []}))
    hostile.signed("/devrelease/manifest.json", json.dumps(good_manifest()).encode())
    counters = Counters()
    with caplog.at_level(logging.ERROR):
        make_updater(hostile, device, counters).step()
    assert counters.get("models.problems.infer_state_newer") == 1
    assert "model-state.json has version 2" in caplog.text
    assert "update this service" in caplog.text
    assert history.records() == []


def test_damaged_infer_state_does_not_raise(hostile, device):
    _, infer_state, history = device
    (infer_state / "model-state.json").write_text(json.dumps({"active": {"sha256": "x"}, "verdicts": [{}]}))
    hostile.signed("/devrelease/manifest.json", json.dumps(good_manifest()).encode())
    counters = Counters()
    make_updater(hostile, device, counters).step()
    assert counters.get("models.problems.no_infer_state") == 1
    assert history.records() == []


def test_huge_manifest_signature_is_not_read_beyond_the_cap(hostile, device):
    _, _, history = device
    hostile.document("/devrelease/manifest.json", json.dumps(good_manifest()).encode())
    hostile.endless("/devrelease/manifest.json.sig", limit_bytes=256 * 2**20)
    counters = Counters()
    make_updater(hostile, device, counters).step()
    [record] = history.records()
    assert record.result == "rejected"
    assert "not an SSH signature" in record.reason
    assert counters.get("models.problems.manifest_unsigned") == 1
    assert "/devrelease/model.tflite" not in hostile.paths
    wait_until(lambda: "/devrelease/manifest.json.sig" in hostile.done)
    assert hostile.sent["/devrelease/manifest.json.sig"] < 32 * 2**20


def test_a_manifest_replaced_while_its_signature_is_checked_is_checked_again_not_rejected(hostile, device):
    models, _, history = device
    old, new = json.dumps(good_manifest(name="tiny-ssd-old")).encode(), json.dumps(good_manifest()).encode()
    new_signature = hostile.signer.sign(new)
    hostile.document("/devrelease/manifest.json", old)
    hostile.document("/devrelease/model.tflite", TINY_SSD_FILE)

    def publisher_uploads_signature_then_manifest(handler: BaseHTTPRequestHandler) -> None:
        """The old manifest was just fetched; the new signature and then the new manifest arrive now."""
        hostile.document("/devrelease/manifest.json.sig", new_signature)
        hostile.document("/devrelease/manifest.json", new)
        hostile.routes["/devrelease/manifest.json.sig"](handler)

    hostile.routes["/devrelease/manifest.json.sig"] = publisher_uploads_signature_then_manifest
    counters = Counters()
    make_updater(hostile, device, counters).step()
    assert history.records() == []  # not a rejection: the publication was changing
    assert counters.get("models.problems.manifest_changed") == 1
    assert ModelStore(models).candidate() is None

    make_updater(hostile, device, counters).step()  # the next poll finds the new publication whole
    assert ModelStore(models).candidate().sha256 == good_manifest()["sha256"]
