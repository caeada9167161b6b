"""The updater's model step against a real HTTP server on loopback, real model files and infer's real state file."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory
from smartcam.common.wire import ModelRef
from smartcam.infer.model_state import ModelState
from smartcam.updater.models import ModelUpdater
from smartcam.updater.models.store import ModelStore
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import Pending
from tests.signing import Signer

ROOT = Path(__file__).resolve().parents[3]
BLAZEFACE_DIR = ROOT / "services/infer/models/blazeface-short-range"
TINY_SSD_DIR = ROOT / "tests/fixtures/models/tiny-ssd"
BLAZEFACE = json.loads((BLAZEFACE_DIR / "manifest.json").read_text())
TINY_SSD_BYTES = (TINY_SSD_DIR / "model.tflite").stat().st_size
LOGGER = logging.getLogger("test.models")


class ModelServer:
    """Serves a directory over HTTP on loopback and remembers every requested path."""

    def __init__(self, root: Path, signer: Signer) -> None:
        self.root = root
        self.signer = signer
        self.paths: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                server.paths.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def publish(self, channel: str, source: Path, served_bytes: bytes | None = None, *, sign: bool = True,
                **changes) -> dict:
        """Publish `source` for `channel`; the manifest describes the real file, `served_bytes` replaces it.
        The manifest is signed by the publisher's key (`manifest.json.sig`) unless `sign` is False."""
        manifest = json.loads((source / "manifest.json").read_text())
        data = (source / manifest["model_file"]).read_bytes()
        manifest.update({"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), "url": "model.tflite",
                         **changes})
        folder = self.root / channel
        folder.mkdir(exist_ok=True)
        (folder / "model.tflite").write_bytes(data if served_bytes is None else served_bytes)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "manifest.json.sig").unlink(missing_ok=True)
        if sign:
            self.signer.sign_file(folder / "manifest.json")
        return manifest

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server(tmp_path, release_signer):
    root = tmp_path / "www"
    root.mkdir()
    served = ModelServer(root, release_signer)
    yield served
    served.close()


def make_updater(server, device, counters=None, **overrides) -> ModelUpdater:
    models, infer_state, history = device
    values = {"channel": "devrelease", "model_manifest_url": f"{server.url}/{{channel}}/manifest.json",
              "models_dir": models, "infer_state_dir": infer_state, "model_min_free_mb": 0,
              "release_signers": server.signer.allowed_signers}
    settings = UpdaterSettings(**{**values, **overrides})
    return ModelUpdater(settings, history, LOGGER, counters or Counters())


def infer_decides(device, candidate, result, reason):
    """What infer writes after trying the candidate (infer's own state class, so the format is the real one)."""
    _, infer_state, _ = device
    state = ModelState(infer_state, LOGGER)
    model, serving = ModelRef(candidate.name, candidate.sha256), ModelRef(BLAZEFACE["name"], BLAZEFACE["sha256"])
    if result == "accepted":
        state.accepted(candidate.id, model, device[0] / candidate.dir, reason, serving)
    else:
        state.rejected(candidate.id, model, reason, serving)


def model_dirs(models):
    return sorted(path.name for path in models.iterdir() if path.is_dir())


def test_off_when_no_manifest_url(server, device):
    models, _, history = device
    updater = ModelUpdater(UpdaterSettings(models_dir=models, infer_state_dir=device[1]), history, LOGGER, Counters())
    updater.step()
    assert not updater.enabled
    assert server.paths == []
    assert list(models.iterdir()) == []


def test_channel_placeholder_picks_the_devices_channel():
    settings = UpdaterSettings(channel="release", model_manifest_url="https://m.example/{channel}/manifest.json")
    assert settings.channel_model_manifest_url == "https://m.example/release/manifest.json"


def test_manifest_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        UpdaterSettings(model_manifest_url="ftp://m.example/manifest.json")


def test_new_model_is_downloaded_verified_offered_then_recorded_when_infer_accepts(server, device):
    models, _, history = device
    published = server.publish("devrelease", TINY_SSD_DIR)
    counters = Counters()
    updater = make_updater(server, device, counters)
    updater.step()
    candidate = ModelStore(models).candidate()
    assert candidate is not None
    assert (candidate.sha256, candidate.from_sha256) == (published["sha256"], BLAZEFACE["sha256"])
    staged = models / candidate.dir
    assert (staged / "model.tflite").read_bytes() == (TINY_SSD_DIR / "model.tflite").read_bytes()
    local = json.loads((staged / "manifest.json").read_text())
    assert "url" not in local  # infer's manifest format, which forbids unknown keys
    assert local["sha256"] == published["sha256"]
    assert [p for p in models.iterdir() if p.name.startswith(".incoming")] == []
    assert history.records() == []  # nothing happened yet: infer has not decided

    updater.step()  # infer still trying: nothing recorded, nothing downloaded again
    assert history.records() == []
    infer_decides(device, candidate, "accepted", "loaded and tried on frame 7 (0 detections)")
    updater.step()
    [record] = history.records()
    assert (record.kind, record.target, record.from_ref, record.to_ref, record.result) == (
        "model", "tiny-ssd-fixture", BLAZEFACE["sha256"], published["sha256"], "updated")
    assert "tried on frame 7" in record.reason
    assert ModelStore(models).candidate() is None
    assert (staged / "model.tflite").is_file()  # the serving model stays
    assert counters.get("models.updated") == 1
    assert server.paths.count("/devrelease/model.tflite") == 1


def test_unchanged_sha256_downloads_nothing(server, device):
    models, _, history = device
    server.publish("devrelease", BLAZEFACE_DIR)
    make_updater(server, device).step()
    assert server.paths == ["/devrelease/manifest.json", "/devrelease/manifest.json.sig"]
    assert ModelStore(models).candidate() is None
    assert history.records() == []


@pytest.mark.parametrize(("served", "expected"), [
    (b"\x00" * TINY_SSD_BYTES, "has sha256"),  # right size, wrong contents
    ((TINY_SSD_DIR / "model.tflite").read_bytes()[:1000], "is truncated"),
    ((TINY_SSD_DIR / "model.tflite").read_bytes() + b"tail", "is larger than"),
])
def test_file_that_does_not_match_the_manifest_is_rejected_recorded_and_not_retried(server, device, served, expected):
    models, _, history = device
    published = server.publish("devrelease", TINY_SSD_DIR, served_bytes=served)
    counters = Counters()
    make_updater(server, device, counters).step()
    [record] = history.records()
    assert (record.result, record.to_ref, record.from_ref) == ("rejected", published["sha256"], BLAZEFACE["sha256"])
    assert expected in record.reason
    assert ModelStore(models).candidate() is None
    assert model_dirs(models) == []  # nothing staged, no partial download left
    assert counters.get("models.rejected") == 1
    make_updater(server, device).step()  # even after a restart
    assert server.paths.count("/devrelease/model.tflite") == 1
    assert len(history.records()) == 1


def test_model_infer_rejects_is_recorded_with_infers_reason_and_removed(server, device):
    models, _, history = device
    server.publish("devrelease", TINY_SSD_DIR)
    updater = make_updater(server, device)
    updater.step()
    candidate = ModelStore(models).candidate()
    infer_decides(device, candidate, "rejected", "model file ... is not a TFLite model")
    updater.step()
    [record] = history.records()
    assert (record.result, record.reason) == ("rejected", "model file ... is not a TFLite model")
    assert model_dirs(models) == []
    make_updater(server, device).step()
    assert server.paths.count("/devrelease/model.tflite") == 1


def test_rejected_model_is_tried_again_when_its_manifest_is_corrected(server, device):
    models, _, history = device
    server.publish("devrelease", TINY_SSD_DIR)
    updater = make_updater(server, device)
    updater.step()
    infer_decides(device, ModelStore(models).candidate(), "rejected", "model file ... takes input [1, 32, 32, 3]")
    updater.step()
    make_updater(server, device).step()
    assert server.paths.count("/devrelease/model.tflite") == 1  # same publication: not again
    server.publish("devrelease", TINY_SSD_DIR, thresholds={"score": 0.6})  # same file, corrected manifest
    make_updater(server, device).step()
    assert server.paths.count("/devrelease/model.tflite") == 2
    assert ModelStore(models).candidate().sha256 == history.records()[0].to_ref


def test_rejected_model_is_tried_again_after_the_retry_period(server, device):
    _, _, history = device
    server.publish("devrelease", TINY_SSD_DIR, served_bytes=b"short")
    make_updater(server, device).step()
    make_updater(server, device, model_retry_rejected_s=0).step()
    assert server.paths.count("/devrelease/model.tflite") == 2
    assert [r.result for r in history.records()] == ["rejected", "rejected"]


def test_not_enough_disk_fails_before_downloading_and_is_retried(server, device):
    _, _, history = device
    server.publish("devrelease", TINY_SSD_DIR)
    make_updater(server, device, model_min_free_mb=10**9).step()
    [record] = history.records()
    assert record.result == "failed"
    assert "not enough free disk" in record.reason
    assert "/devrelease/model.tflite" not in server.paths
    make_updater(server, device).step()  # a failure is not a rejection: tried again
    assert server.paths.count("/devrelease/model.tflite") == 1


def test_missing_model_file_is_a_failure_tried_again(server, device):
    _, _, history = device
    server.publish("devrelease", TINY_SSD_DIR, url="missing.tflite")
    make_updater(server, device).step()
    assert history.records()[-1].result == "failed"
    assert "404" in history.records()[-1].reason
    make_updater(server, device).step()
    assert server.paths.count("/devrelease/missing.tflite") == 2


def test_too_big_model_is_rejected_without_downloading(server, device):
    _, _, history = device
    server.publish("devrelease", TINY_SSD_DIR, size_bytes=2 * 2**20)
    make_updater(server, device, model_max_mb=1).step()
    assert history.records()[-1].result == "rejected"
    assert "SMARTCAM_MODEL_MAX_MB" in history.records()[-1].reason
    assert "/devrelease/model.tflite" not in server.paths


def test_unreachable_manifest_is_logged_once_and_counted_not_recorded(server, device, caplog):
    _, _, history = device  # nothing published: 404 (invalid manifests: test_hostile_manifests.py)
    counters = Counters()
    updater = make_updater(server, device, counters, model_poll_interval_s=1.0)
    with caplog.at_level(logging.WARNING):
        updater.step()
    assert history.records() == []
    assert counters.get("models.problems.manifest") == 1
    assert "model manifest" in caplog.text


def test_waits_for_infer_to_report_its_model(server, tmp_path):
    models, infer_state = tmp_path / "models", tmp_path / "infer-state"
    models.mkdir()
    infer_state.mkdir()
    server.publish("devrelease", TINY_SSD_DIR)
    make_updater(server, (models, infer_state, UpdateHistory(tmp_path / "h.json"))).step()
    assert server.paths == []


def test_no_verdict_in_time_is_a_failure(server, device):
    models, _, history = device
    server.publish("devrelease", TINY_SSD_DIR)
    make_updater(server, device).step()
    store = ModelStore(models)
    candidate = store.candidate()
    late = json.loads((models / "candidate.json").read_text())
    (models / "candidate.json").write_text(json.dumps({**late, "published_at": candidate.published_at - 3600}))
    make_updater(server, device, model_verdict_timeout_s=600).step()  # also: a restarted updater settles it
    [record] = history.records()
    assert record.result == "failed"
    assert "no verdict within 600s" in record.reason
    assert store.candidate() is None
    assert model_dirs(models) == []


def test_missing_models_volume_is_a_recorded_failure_not_a_crash(server, device, tmp_path):
    _, infer_state, history = device
    server.publish("devrelease", TINY_SSD_DIR)
    make_updater(server, (tmp_path / "not-mounted", infer_state, history)).step()
    [record] = history.records()
    assert record.result == "failed"
    assert "not-mounted" in record.reason


def test_outside_the_update_window_a_new_model_waits_reported_as_pending(server, device):
    models, infer_state, history = device
    published = server.publish("devrelease", TINY_SSD_DIR)
    settings = UpdaterSettings(channel="devrelease", model_manifest_url=f"{server.url}/{{channel}}/manifest.json",
                               models_dir=models, infer_state_dir=infer_state, model_min_free_mb=0,
                               update_window="0 2 * * *", update_window_length_s=3600, model_poll_interval_s=1,
                               release_signers=server.signer.allowed_signers)
    pending = Pending()
    now = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()]
    updater = ModelUpdater(settings, history, LOGGER, Counters(), pending=pending, clock=lambda: now[0])
    updater.step()
    assert ModelStore(models).candidate() is None  # not downloaded
    assert "/devrelease/model.tflite" not in server.paths
    [waiting] = pending.items()
    assert (waiting.kind, waiting.target, waiting.to_ref, waiting.opens_at) == (
        "model", "tiny-ssd-fixture", published["sha256"], "2026-01-02T02:00:00Z")
    assert history.records() == []

    now[0] = datetime(2026, 1, 2, 2, 10, tzinfo=UTC).timestamp()  # the window is open
    time.sleep(1.1)  # the next poll
    updater.step()
    candidate = ModelStore(models).candidate()
    assert candidate is not None
    assert candidate.sha256 == published["sha256"]
    assert pending.items() == []


def refused_manifest(server, device, counters=None):
    """One poll; the manifest is refused for its signature: nothing downloaded, one rejected record (its reason)."""
    models, _, history = device
    make_updater(server, device, counters).step()
    assert "/devrelease/model.tflite" not in server.paths
    assert ModelStore(models).candidate() is None
    [record] = history.records()
    assert (record.kind, record.target, record.result) == ("model", "manifest", "rejected")
    assert "ssh-keygen -Y sign" in record.reason  # names the fix
    return record.reason


def test_unsigned_manifest_is_refused_before_download_and_taken_once_signed(server, device):
    server.publish("devrelease", TINY_SSD_DIR, sign=False)
    counters = Counters()
    assert "no signature at" in refused_manifest(server, device, counters)
    assert counters.get("models.problems.manifest_unsigned") == 1

    server.signer.sign_file(server.root / "devrelease" / "manifest.json")  # the publisher adds the signature
    make_updater(server, device).step()
    assert ModelStore(device[0]).candidate() is not None  # at the next poll: same manifest, now signed


def test_manifest_signed_by_an_untrusted_key_is_refused(server, device, stranger_signer):
    server.publish("devrelease", TINY_SSD_DIR, sign=False)
    stranger_signer.sign_file(server.root / "devrelease" / "manifest.json")
    assert "not signed by a key" in refused_manifest(server, device)


def test_signature_of_another_manifest_is_refused(server, device):
    folder = server.root / "devrelease"
    server.publish("devrelease", TINY_SSD_DIR)
    old_signature = (folder / "manifest.json.sig").read_bytes()
    server.publish("devrelease", TINY_SSD_DIR, sign=False, thresholds={"score": 0.1})  # changed after signing
    (folder / "manifest.json.sig").write_bytes(old_signature)
    assert "does not match" in refused_manifest(server, device)


def test_manifest_signature_in_the_image_namespace_is_refused(server, device):
    """An image signature cannot be replayed as a manifest signature."""
    folder = server.root / "devrelease"
    server.publish("devrelease", TINY_SSD_DIR, sign=False)
    server.signer.sign_file(folder / "manifest.json", namespace="smartcam-image")
    refused_manifest(server, device)
