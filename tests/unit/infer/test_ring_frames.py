"""Infer on ring frames: detection on the lores stream, boxes on the full frame, overwritten slots dropped.

Real parts throughout: the replay source's cached lores stream, a real ring file, the bundled face model as the
main detector and the real privacy stage.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartcam.capture.sources import LORES, MAIN, StreamConfig
from smartcam.capture.sources.replay import ReplaySource
from smartcam.common.counters import Counters
from smartcam.common.health import HealthReporter
from smartcam.common.ring import SLOT_COUNT, RingReader, RingWriter
from smartcam.common.service import ServiceContext
from smartcam.common.settings import load_settings
from smartcam.common.wire import Frame
from smartcam.infer.detector import Detector
from smartcam.infer.main import Pipeline
from smartcam.infer.privacy_stage import PrivacyStage
from smartcam.infer.settings import InferSettings
from tests.unit.infer.conftest import BLAZEFACE_DIR, PHOTOS

LOGGER = logging.getLogger("smartcam.test")


def _pipeline(monkeypatch, tmp_path: Path, face_detector: Detector) -> Pipeline:
    monkeypatch.setenv("SMARTCAM_DETECT_LABELS", "face:0.5")
    monkeypatch.setenv("SMARTCAM_CAMERA_HEALTH_AFTER_S", "0")
    settings = load_settings(InferSettings)
    counters = Counters()
    ctx = ServiceContext(settings, LOGGER, HealthReporter(tmp_path / "health.json", "infer", counters), counters,
                         threading.Event())
    privacy = PrivacyStage.load(faces=True, model_dir=BLAZEFACE_DIR, blurred_labels=frozenset(), margin=0.25,
                                face_min_score=0.5, num_threads=0, logger=LOGGER)
    return Pipeline(ctx, face_detector, None, privacy)  # type: ignore[arg-type]  # process() never sends


def _ring_frame(tmp_path: Path, photo: str, seq: int = 1) -> tuple[Frame, RingWriter]:
    """A replayed photo (main 1280x720 box, lores 320x180 box, cached once) as infer receives it from the ring."""
    source = ReplaySource(str(PHOTOS / photo), StreamConfig(1000.0, (1280, 720), (320, 180), "RGB24"))
    source.open()
    images = source.read()
    writer = RingWriter(tmp_path / "frames.ring", LOGGER)
    sent = writer.put(Frame("cam", seq, images.captured_at, None, images.image_parts(), images.buffers()))
    return RingReader(tmp_path / "frames.ring").attach(sent), writer


def _pixels(box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    return np.array(box) * [width, height, width, height]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return float(overlap / area)


@pytest.mark.parametrize("photo", ["astronaut.jpg", "grace_hopper.jpg"])
def test_faces_found_on_the_lores_stream_land_on_the_same_faces_in_the_full_frame(tmp_path, face_detector, photo):
    frame, _writer = _ring_frame(tmp_path, photo)
    main, lores = frame.image(MAIN), frame.image(LORES)
    assert main.shape[0] > 2 * lores.shape[0]  # two real streams, each the whole photo
    on_lores = [d for d in face_detector.detect(np.ascontiguousarray(lores)) if d.score >= 0.5]
    on_main = [d for d in face_detector.detect(np.ascontiguousarray(main)) if d.score >= 0.5]
    assert len(on_lores) == len(on_main) == 1
    height, width = main.shape[:2]
    mapped, full = _pixels(on_lores[0].box, width, height), _pixels(on_main[0].box, width, height)
    assert _iou(mapped, full) > 0.95, (mapped, full)
    face_side = full[2] - full[0]
    assert np.abs(mapped - full).max() < 0.03 * face_side  # each edge within 3 % of the face's size (measured: < 1 %)


def test_the_event_is_the_full_frame_with_the_lores_faces_pixelated(monkeypatch, tmp_path, face_detector):
    pipeline = _pipeline(monkeypatch, tmp_path, face_detector)
    frame, _writer = _ring_frame(tmp_path, "astronaut.jpg")
    events = pipeline.process(frame)
    assert len(events) == 1
    jpeg = np.asarray(Image.open(io.BytesIO(events[0].image)).convert("RGB"))
    main = frame.image(MAIN)
    assert jpeg.shape == main.shape  # the upload is the full frame, not the detection stream
    assert not [d for d in face_detector.detect(jpeg) if d.score >= 0.5]  # the face is pixelated
    x0, y0, x1, y1 = _pixels(events[0].detections[0].box, main.shape[1], main.shape[0]).astype(int)
    outside = np.abs(jpeg[:y0 // 2].astype(int) - main[:y0 // 2]).mean()
    inside = np.abs(jpeg[y0:y1, x0:x1].astype(int) - main[y0:y1, x0:x1]).mean()
    assert inside > 4 * outside  # pixelated where the lores box says, the rest only JPEG-compressed


def test_a_frame_overwritten_during_detection_is_dropped_not_trusted(monkeypatch, tmp_path, face_detector):
    pipeline = _pipeline(monkeypatch, tmp_path, face_detector)
    frame, writer = _ring_frame(tmp_path, "astronaut.jpg")
    other = Frame("cam", 99, frame.captured_at, None, frame.parts,
                  [np.zeros(part.shape, np.uint8) for part in frame.parts])
    detect = pipeline.detector.detect

    def detect_then_overwrite(pixels: np.ndarray, max_detections: int | None = None, hooks=None) -> list:
        found = detect(pixels, max_detections, hooks)
        for _ in range(SLOT_COUNT):  # capture laps the ring while infer still works on the frame
            writer.put(other)
        return found

    monkeypatch.setattr(pipeline.detector, "detect", detect_then_overwrite)
    assert pipeline.process(frame) == []
    assert pipeline._ctx.counters.get("frames.overwritten") == 1
    assert pipeline._ctx.counters.get("frames.inferred") == 0


def test_an_event_whose_full_frame_was_overwritten_while_encoding_is_withheld(monkeypatch, tmp_path, face_detector):
    pipeline = _pipeline(monkeypatch, tmp_path, face_detector)
    frame, writer = _ring_frame(tmp_path, "astronaut.jpg")
    other = Frame("cam", 99, frame.captured_at, None, frame.parts,
                  [np.zeros(part.shape, np.uint8) for part in frame.parts])
    redact = pipeline.privacy.redact

    def redact_then_overwrite(*args: object) -> np.ndarray:
        redacted = redact(*args)
        for _ in range(SLOT_COUNT):
            writer.put(other)
        return redacted

    monkeypatch.setattr(pipeline.privacy, "redact", redact_then_overwrite)
    assert pipeline.process(frame) == []
    assert pipeline._ctx.counters.get("events.withheld.frame_overwritten") == 1
