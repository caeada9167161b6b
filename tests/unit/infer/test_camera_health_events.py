"""Camera health through infer's pipeline: the real detector, privacy stage, JPEG and wire encoding."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from smartcam.common.counters import Counters
from smartcam.common.health import HealthReporter
from smartcam.common.service import ServiceContext
from smartcam.common.settings import load_settings
from smartcam.common.wire import Event, Frame, ImagePart, decode, encode
from smartcam.infer.detector import Detector
from smartcam.infer.main import Pipeline
from smartcam.infer.privacy_stage import PrivacyStage
from smartcam.infer.settings import InferSettings
from tests.unit.infer.conftest import BLAZEFACE_DIR

NOISE = [np.random.default_rng(seed).normal(0.0, 3.0, (512, 512, 3)) for seed in range(5)]


def _pipeline(monkeypatch, tmp_path, face_detector: Detector) -> Pipeline:
    for name, value in {"CAMERA_HEALTH_AFTER_S": "3", "CAMERA_HEALTH_REFERENCE_S": "5", "DETECT_LABELS": "face:0.99",
                        "PRIVACY_MODEL_DIR": str(BLAZEFACE_DIR)}.items():
        monkeypatch.setenv(f"SMARTCAM_{name}", value)
    settings = load_settings(InferSettings)
    logger = logging.getLogger("smartcam.test")
    counters = Counters()
    ctx = ServiceContext(settings, logger, HealthReporter(tmp_path / "health.json", "infer", counters), counters,
                         threading.Event())
    privacy = PrivacyStage.load(faces=True, model_dir=BLAZEFACE_DIR, blurred_labels=frozenset(), margin=0.25,
                                face_min_score=0.5, num_threads=0, logger=logger)
    return Pipeline(ctx, face_detector, None, privacy)  # type: ignore[arg-type]  # process() never sends


def _frame(pixels: np.ndarray, seq: int) -> Frame:
    noisy = np.clip(pixels + NOISE[seq % len(NOISE)], 0, 255).astype(np.uint8)
    return Frame("cam", seq, datetime.now(UTC), None, [ImagePart("main", "RGB24", noisy.shape)], [noisy])


def _health_events(pipeline: Pipeline, pixels: np.ndarray, start: int, seconds: int) -> list[Event]:
    events: list[Event] = []
    for second in range(start, start + seconds):
        events += pipeline.process(_frame(pixels, second), now=float(second))
    return [event for event in events if event.detections[0].label.startswith("camera_health:")]


def test_a_covered_lens_raises_one_event_with_a_privacy_checked_jpeg_and_clears_once(
        monkeypatch, tmp_path, face_detector, load_photo):
    healthy = np.asarray(Image.fromarray(load_photo("astronaut.jpg")).resize((512, 512)), dtype=np.float64)
    pipeline = _pipeline(monkeypatch, tmp_path, face_detector)
    assert _health_events(pipeline, healthy, 0, 10) == []
    raised = _health_events(pipeline, healthy * 0.03, 10, 10)
    assert [event.detections[0].label for event in raised] == ["camera_health:dark"]
    report = raised[0].camera_health
    assert (report.condition, report.state) == ("dark", "raised")
    assert report.figures.brightness < 0.1  # SMARTCAM_CAMERA_HEALTH_DARK_BELOW's default
    assert report.figures.sharpness_reference is not None  # the reference was kept in the healthy seconds
    assert pipeline.camera_health_summary() == ["dark"]
    cleared = _health_events(pipeline, healthy, 20, 10)
    assert [event.detections[0].label for event in cleared] == ["camera_health:dark_cleared"]
    assert pipeline.camera_health_summary() == []
    event = cleared[0]
    assert not event.sample
    assert event.detections[0].box == (0.0, 0.0, 1.0, 1.0)
    received = decode(encode(event))  # passes the wire's checks on the way to the uploader
    assert isinstance(received, Event)
    assert received.detections[0].label == "camera_health:dark_cleared"
    assert received.camera_health == event.camera_health
    assert (received.camera_health.condition, received.camera_health.state) == ("dark", "cleared")
    assert received.camera_health.figures.brightness > 0.1
    jpeg = np.asarray(Image.open(io.BytesIO(event.image)).convert("RGB"))
    assert jpeg.shape == (512, 512, 3)
    assert not [d for d in face_detector.detect(jpeg) if d.score >= 0.5]  # the astronaut's face is pixelated
    assert np.asarray(Image.open(io.BytesIO(raised[0].image))).mean() < 20  # the picture of the dark camera
