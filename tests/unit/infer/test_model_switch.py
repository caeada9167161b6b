"""Hot model switching in infer, with real models, real files and the updater's real candidate pointer.

The updater's own `ModelStore` publishes the candidates here, so these tests also pin the file
contract between the two services (candidate.json in, model-state.json out).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from smartcam.common.counters import Counters
from smartcam.common.wire import Frame, ImagePart
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.model_state import ModelState
from smartcam.infer.settings import InferSettings
from smartcam.infer.startup import load_start_model
from smartcam.infer.switcher import ModelSwitcher
from smartcam.updater.models.infer_state import read_infer_report
from smartcam.updater.models.remote import RemoteModel
from smartcam.updater.models.store import ModelStore
from tests.unit.infer.conftest import BLAZEFACE_DIR, TINY_SSD_DIR

LOGGER = logging.getLogger("test.switch")
# tiny-ssd detects "bright" and "red": make one of them interesting and stop blurring faces, so it may serve
# (faces must not be of interest either: the trial would reject a model that loses the faces the serving one sees).
SSD_FRIENDLY = {"detect_labels": "red:0.5", "blur_labels": ""}


def make_settings(dirs, **overrides) -> InferSettings:
    store, state = dirs
    overrides = {"detect_labels": "face:0.7", **overrides}  # the face model serves (the default is the COCO one)
    return InferSettings(model_dir=BLAZEFACE_DIR, models_dir=store, infer_state_dir=state,
                         model_check_interval_s=0.01, **overrides)


def offer(store: Path, source: Path, model_bytes: bytes | None = None, from_sha256: str | None = None,
          **manifest_updates):
    """Stage `source` (optionally with other file contents, manifest sha256/size to match) the updater's way."""
    manifest = json.loads((source / "manifest.json").read_text())
    data = (source / manifest["model_file"]).read_bytes() if model_bytes is None else model_bytes
    manifest.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), **manifest_updates)
    model = RemoteModel.model_validate({**manifest, "url": "model.tflite"})
    target = store / model.sha256
    target.mkdir()
    (target / model.model_file).write_bytes(data)
    (target / "manifest.json").write_text(json.dumps(model.local_manifest()))
    return ModelStore(store).publish_candidate(model, from_sha256)


def photo_frame(load_photo, name="grace_hopper.jpg", seq=1) -> Frame:
    pixels = load_photo(name)
    return Frame("cam", seq, datetime.now(UTC), None, [ImagePart("main", "RGB24", pixels.shape)], [pixels])


def poll_until_verdict(switcher, state_dir, candidate_id, frame, timeout_s=30.0):
    """Drive the frame loop's calls until infer has decided; return what poll() handed over (or None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        switched = switcher.poll(frame)
        if switched is not None:
            return switched
        report = read_infer_report(state_dir)
        if report and candidate_id in report.verdicts:
            return None
        time.sleep(0.02)
    raise AssertionError("infer gave no verdict")


def start(dirs, counters=None, **overrides):
    settings = make_settings(dirs, **overrides)
    state = ModelState(settings.infer_state_dir, LOGGER)
    counters = counters or Counters()
    detector = load_start_model(settings, state, LOGGER, counters)
    return detector, ModelSwitcher(settings, state, detector, LOGGER, counters), counters


def test_good_candidate_is_tried_on_a_real_frame_and_handed_over(dirs, load_photo):
    store, state_dir = dirs
    serving, switcher, counters = start(dirs, **SSD_FRIENDLY)
    candidate = offer(store, TINY_SSD_DIR, from_sha256=serving.model_ref.sha256)
    switched = poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo))
    switcher.close()
    assert switched is not None
    assert switched.model_ref.name == "tiny-ssd-fixture"
    assert switched.model_ref.sha256 == candidate.sha256
    report = read_infer_report(state_dir)  # what the updater will read
    assert report.active_sha256 == candidate.sha256
    verdict = report.verdicts[candidate.id]
    assert verdict.result == "accepted"
    assert verdict.replaced == serving.model_ref.sha256
    assert "tried on 1 recent frame(s)" in verdict.reason
    assert counters.get("models.switched") == 1


def test_new_build_of_the_face_model_is_accepted_with_the_default_settings(dirs, load_photo):
    """Faces stay interesting and blurred: a new face model passes the label and privacy checks."""
    store, state_dir = dirs
    serving, switcher, _ = start(dirs)
    rebuilt = (BLAZEFACE_DIR / "model.tflite").read_bytes() + b"smartcam-rebuild"  # new sha256, same network
    candidate = offer(store, BLAZEFACE_DIR, model_bytes=rebuilt)
    switched = poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo))
    switcher.close()
    assert switched is not None
    assert switched.model_ref.sha256 == candidate.sha256 != serving.model_ref.sha256
    assert "recall 1.00 (1 of 1 objects of interest)" in read_infer_report(state_dir).verdicts[candidate.id].reason


@pytest.mark.parametrize(("manifest_of", "contents", "expected"), [
    (TINY_SSD_DIR, b"\x00" * 64, "not a TFLite model"),
    (BLAZEFACE_DIR, (TINY_SSD_DIR / "model.tflite").read_bytes(), "takes input"),  # real model, wrong manifest
])
def test_unusable_candidate_is_rejected_with_the_reason_and_the_old_model_keeps_serving(
        dirs, load_photo, manifest_of, contents, expected):
    store, state_dir = dirs
    serving, switcher, counters = start(dirs, **SSD_FRIENDLY)
    candidate = offer(store, manifest_of, model_bytes=contents)
    assert poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo)) is None
    switcher.close()
    report = read_infer_report(state_dir)
    verdict = report.verdicts[candidate.id]
    assert verdict.result == "rejected"
    assert expected in verdict.reason
    assert verdict.replaced == serving.model_ref.sha256
    assert report.active_sha256 == serving.model_ref.sha256
    assert counters.get("models.rejected") == 1
    assert counters.get("models.switched") == 0


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, "none of the labels of interest"),  # default: faces only
    ({"detect_labels": "face:0.7,red:0.5", "blur_labels": "face"}, "would upload them unblurred"),
])
def test_model_that_would_miss_interesting_labels_or_stop_blurring_is_rejected(dirs, load_photo, settings, expected):
    store, state_dir = dirs
    _, switcher, _ = start(dirs, **settings)
    candidate = offer(store, TINY_SSD_DIR)
    assert poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo)) is None
    switcher.close()
    assert expected in read_infer_report(state_dir).verdicts[candidate.id].reason


def test_a_decided_candidate_is_not_tried_again_even_after_a_restart(dirs, load_photo):
    store, state_dir = dirs
    _, switcher, counters = start(dirs, **SSD_FRIENDLY)
    candidate = offer(store, TINY_SSD_DIR, model_bytes=b"\x00" * 64)
    poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo))
    for _ in range(20):
        switcher.poll(None)
        time.sleep(0.02)
    switcher.close()
    assert counters.get("models.rejected") == 1
    _, restarted, counters_after = start(dirs, **SSD_FRIENDLY)
    for _ in range(20):
        restarted.poll(None)
        time.sleep(0.02)
    restarted.close()
    assert counters_after.get("models.rejected") == 0
    assert len(read_infer_report(state_dir).verdicts) == 1


def test_offer_of_the_serving_model_is_accepted_without_loading_it_again(dirs):
    store, state_dir = dirs
    serving, switcher, _ = start(dirs)
    candidate = offer(store, BLAZEFACE_DIR)
    assert candidate.sha256 == serving.model_ref.sha256
    assert poll_until_verdict(switcher, state_dir, candidate.id, None) is None
    switcher.close()
    verdict = read_infer_report(state_dir).verdicts[candidate.id]
    assert (verdict.result, verdict.reason) == ("accepted", "already serving this model")


def test_restart_serves_the_last_accepted_model(dirs, load_photo):
    store, state_dir = dirs
    _, switcher, _ = start(dirs, **SSD_FRIENDLY)
    candidate = offer(store, TINY_SSD_DIR)
    assert poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo)) is not None
    switcher.close()
    restarted, switcher, _ = start(dirs, **SSD_FRIENDLY)
    switcher.close()
    assert restarted.model_ref.sha256 == candidate.sha256


def test_restart_falls_back_to_the_built_in_model_when_the_accepted_one_no_longer_loads(dirs, load_photo, caplog):
    store, state_dir = dirs
    _, switcher, _ = start(dirs, **SSD_FRIENDLY)
    candidate = offer(store, TINY_SSD_DIR)
    poll_until_verdict(switcher, state_dir, candidate.id, photo_frame(load_photo))
    switcher.close()
    (store / candidate.dir / "model.tflite").write_bytes(b"damaged")
    counters = Counters()
    with caplog.at_level(logging.ERROR):
        restarted, switcher, _ = start(dirs, counters=counters, **SSD_FRIENDLY)
    switcher.close()
    assert restarted.model_ref.name == "blazeface-short-range"
    assert counters.get("models.fallback") == 1
    assert "no longer loads" in caplog.text
    assert read_infer_report(state_dir).active_sha256 == restarted.model_ref.sha256  # so the updater offers it again


def test_broken_built_in_model_still_stops_the_service(dirs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(BLAZEFACE_DIR, broken)
    (broken / "model.tflite").write_bytes(b"x" * 10)
    settings = make_settings(dirs).model_copy(update={"model_dir": broken})
    with pytest.raises(ModelError):
        load_start_model(settings, ModelState(settings.infer_state_dir, LOGGER), LOGGER, Counters())


def test_pointer_naming_a_path_outside_the_store_is_ignored(dirs):
    store, state_dir = dirs
    _, switcher, counters = start(dirs)
    (store / "candidate.json").write_text(json.dumps(
        {"id": "x", "name": "evil", "sha256": "0" * 64, "dir": "../../etc", "from_sha256": None, "published_at": 0}))
    for _ in range(10):
        switcher.poll(None)
        time.sleep(0.02)
    switcher.close()
    assert read_infer_report(state_dir).verdicts == {}
    assert counters.get("models.rejected") == 0



def test_a_published_manifest_with_embedded_labels_reaches_infer_as_published(tmp_path, coco_dir, load_photo):
    """The COCO model's manifest names no labels (`labels_from: embedded`): the updater takes it, infer loads it."""
    manifest = json.loads((coco_dir / "manifest.json").read_text())
    model = RemoteModel.model_validate({**manifest, "url": "model.tflite"})
    staged = tmp_path / model.sha256
    staged.mkdir()
    shutil.copy(coco_dir / model.model_file, staged / model.model_file)
    (staged / "manifest.json").write_text(json.dumps(model.local_manifest()))
    assert model.local_manifest()["labels_from"] == "embedded"
    assert "cat" in {detection.label for detection in Detector.load(staged).detect(load_photo("chelsea.jpg"))}


def test_a_published_manifest_names_its_labels_exactly_once():
    manifest = json.loads((BLAZEFACE_DIR / "manifest.json").read_text())
    published = {**manifest, "url": "model.tflite"}
    assert "labels_from" not in RemoteModel.model_validate(published).local_manifest()  # as before: same digest
    with pytest.raises(ValidationError, match="labels is empty"):
        RemoteModel.model_validate({**published, "labels": []})
    with pytest.raises(ValidationError, match="both given"):
        RemoteModel.model_validate({**published, "labels_from": "embedded"})
