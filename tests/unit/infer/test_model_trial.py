"""The model trial proves an offered model sees before it serves: real TFLite models on real photos.

The bad models are the shipped BlazeFace with its score-head biases edited (see patched_models.py):
valid TFLite files that load, fit their manifest and run, yet output NaN, fire on every anchor, or
see nothing. Each goes through the real switcher and the updater's real reading of infer's verdict.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from smartcam.common.wire import Frame, ImagePart
from smartcam.infer.candidates import Candidate
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.samples import MAX_SIDE, RecentFrames, Sample, embedded_photos
from smartcam.infer.trial import TrialRules, run_trial
from smartcam.updater.models.infer_state import read_infer_report
from tests.unit.infer.conftest import BLAZEFACE_DIR
from tests.unit.infer.patched_models import FIRES_EVERYWHERE, NAN, SEES_NOTHING, blazeface_with_score_bias
from tests.unit.infer.test_model_switch import offer, photo_frame, poll_until_verdict, start

MODEL_FILE = BLAZEFACE_DIR / "model.tflite"


@pytest.fixture(scope="module")
def biased():
    """bias -> the shipped model's bytes with that score bias (each variant built once)."""
    cache: dict[float, bytes] = {}

    def make(bias: float) -> bytes:
        key = float("inf") if bias != bias else bias  # NaN is not equal to itself: give it a usable key
        if key not in cache:
            cache[key] = blazeface_with_score_bias(MODEL_FILE, bias)
        return cache[key]

    return make


def decide(dirs, frame, model_bytes, manifest_updates=None, **settings):
    """Offer `model_bytes` (with BlazeFace's manifest) to a real switcher fed `frame`; return the outcome."""
    store, state_dir = dirs
    serving, switcher, counters = start(dirs, **settings)
    candidate = offer(store, BLAZEFACE_DIR, model_bytes=model_bytes, from_sha256=serving.model_ref.sha256,
                      **(manifest_updates or {}))
    switched = poll_until_verdict(switcher, state_dir, candidate.id, frame)
    switcher.close()
    report = read_infer_report(state_dir)  # what the updater turns into the history record
    return switched, report.verdicts[candidate.id], report, serving, counters


def assert_rejected(outcome, kind):
    switched, verdict, report, serving, counters = outcome
    assert switched is None
    assert verdict.result == "rejected"
    assert report.active_sha256 == serving.model_ref.sha256  # the serving model keeps serving
    assert counters.get("models.rejected") == 1
    assert counters.get(f"models.rejected.{kind}") == 1
    assert counters.get("models.switched") == 0
    return verdict.reason


def test_model_whose_scores_are_nan_is_rejected_naming_nan(dirs, load_photo, biased):
    reason = assert_rejected(decide(dirs, photo_frame(load_photo), biased(NAN)), "non_finite")
    assert "NaN" in reason
    assert "classificators" in reason  # the output that holds them
    assert "frame 1" in reason


@pytest.mark.parametrize("manifest_cap", [100, 20])  # the attacker's manifest; the default cap must not hide it
def test_model_whose_every_anchor_fires_is_rejected_for_too_many_detections(dirs, load_photo, biased, manifest_cap):
    thresholds = {"score": 0.5, "nms_iou": 0.3, "max_detections": manifest_cap}
    outcome = decide(dirs, photo_frame(load_photo), biased(FIRES_EVERYWHERE), {"thresholds": thresholds})
    reason = assert_rejected(outcome, "too_many_detections")
    assert "more than SMARTCAM_TRIAL_MAX_DETECTIONS=50" in reason


def test_model_that_sees_nothing_where_the_serving_one_sees_a_face_is_rejected_for_recall(dirs, load_photo, biased):
    reason = assert_rejected(decide(dirs, photo_frame(load_photo), biased(SEES_NOTHING)), "low_recall")
    assert "finds only 0 of the 1 objects of interest blazeface-short-range finds" in reason
    assert "SMARTCAM_TRIAL_MIN_RECALL=0.5" in reason


def test_same_network_rebuilt_passes_every_check_and_serves(dirs, load_photo):
    rebuilt = MODEL_FILE.read_bytes() + b"smartcam-rebuild"  # new sha256, same network
    switched, verdict, report, _, counters = decide(dirs, photo_frame(load_photo, "astronaut.jpg"), rebuilt)
    assert switched is not None
    assert (verdict.result, report.active_sha256) == ("accepted", switched.model_ref.sha256)
    assert "at most 1 detection(s) a picture, recall 1.00 (1 of 1 objects of interest)" in verdict.reason
    assert counters.get("models.switched") == 1


def test_before_the_first_frame_the_embedded_photos_catch_a_blind_model(dirs, biased):
    reason = assert_rejected(decide(dirs, None, biased(SEES_NOTHING)), "low_recall")
    assert "finds only 0 of the 2 objects of interest" in reason  # Grace Hopper and the astronaut
    assert "embedded photos" in reason


def test_recall_is_not_judged_where_the_serving_model_sees_nothing_of_interest(dirs, load_photo, biased):
    switched, verdict, *_ = decide(dirs, photo_frame(load_photo, "coffee.jpg"), biased(SEES_NOTHING))
    assert switched is not None
    assert "recall not checked (blazeface-short-range found nothing of interest there)" in verdict.reason


def test_recall_floor_zero_turns_the_recall_check_off(dirs, load_photo, biased):
    switched, verdict, *_ = decide(dirs, photo_frame(load_photo), biased(SEES_NOTHING), trial_min_recall=0.0)
    assert switched is not None
    assert verdict.result == "accepted"


def test_trial_runs_on_every_recent_frame_and_names_the_one_that_fails(tmp_path, load_photo, face_detector, biased):
    """A model that fails only on some pictures is caught: every sample is tried, not just the newest."""
    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    data = biased(FIRES_EVERYWHERE)
    manifest = json.loads((BLAZEFACE_DIR / "manifest.json").read_text())
    manifest.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    (model_dir / "model.tflite").write_bytes(data)
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    candidate = Candidate("c1", "fires", manifest["sha256"], model_dir)
    samples = [Sample(f"frame {seq}", load_photo(name)) for seq, name in enumerate(["coffee.jpg", "rocket.jpg"])]
    # Above the real count of the first picture, below the real count of the second: only the second fails.
    counts = [len(Detector.load(model_dir).detect(sample.pixels, 1000)) for sample in samples]
    assert counts[0] != counts[1]
    low, high = sorted(counts)
    failing = samples[counts.index(high)].name
    rules = TrialRules({"face": 0.7}, frozenset({"face"}), max_detections=low, min_recall=0.5)
    with pytest.raises(ModelError, match=rf"found \d+ objects on {failing}, more than"):
        run_trial(candidate, face_detector, samples, rules)


def rgb_frame(seq: int, height: int, width: int) -> Frame:
    pixels = np.full((height, width, 3), seq + 1, np.uint8)
    return Frame("cam", seq, datetime.now(UTC), None, [ImagePart("main", "RGB24", pixels.shape)], [pixels])


def test_recent_frames_keep_the_last_n_shrunk_to_bound_memory():
    recent = RecentFrames(3, spacing_s=0.0)
    for seq in range(5):
        recent.add(rgb_frame(seq, 1440, 2560))
    kept = recent.snapshot()
    assert [sample.name for sample in kept] == ["frame 2", "frame 3", "frame 4"]
    assert kept[0].pixels.shape == (MAX_SIDE * 1440 // 2560, MAX_SIDE, 3)  # whatever the camera's resolution


def test_recent_frames_keep_a_private_copy_of_the_pixels():
    recent = RecentFrames(3, spacing_s=0.0)
    frame = rgb_frame(0, 48, 64)
    recent.add(frame)
    frame.buffers[0][:] = 0  # capture's buffer is reused or freed after the frame loop: the ring must not see it
    assert int(recent.snapshot()[0].pixels.min()) == 1


def test_recent_frames_keep_one_per_spacing():
    recent = RecentFrames(8, spacing_s=3600.0)
    for seq in range(3):
        recent.add(rgb_frame(seq, 48, 64))
    assert [sample.name for sample in recent.snapshot()] == ["frame 0"]


def test_embedded_photos_show_faces_to_the_serving_model(face_detector):
    photos = embedded_photos()
    faces = [d for photo in photos for d in face_detector.detect(photo.pixels) if d.score >= 0.7]
    assert len(photos) >= 2
    assert len(faces) >= 2


def test_trial_settings_are_bounded():
    from smartcam.infer.settings import InferSettings  # noqa: PLC0415

    defaults = InferSettings()
    assert (defaults.trial_frames, defaults.trial_max_detections, defaults.trial_min_recall) == (8, 50, 0.5)
    with pytest.raises(ValueError, match="trial_min_recall"):
        InferSettings(trial_min_recall=1.5)
    with pytest.raises(ValueError, match="trial_max_detections"):
        InferSettings(trial_max_detections=0)

