"""The privacy stage with the real face model and the real COCO model, on real photos."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from smartcam.infer.detector import Detector
from smartcam.infer.privacy_stage import PrivacyStage, PrivacyUnavailableError
from tests.unit.infer.conftest import BLAZEFACE_DIR

FACE_MIN_SCORE = 0.5
LOGGER = logging.getLogger("smartcam.test")


def _stage(blurred=frozenset(), faces=True, model_dir=BLAZEFACE_DIR) -> PrivacyStage:
    return PrivacyStage.load(faces=faces, model_dir=model_dir, blurred_labels=frozenset(blurred), margin=0.25,
                             face_min_score=FACE_MIN_SCORE, num_threads=0, logger=LOGGER)


def _faces(face_detector: Detector, frame: np.ndarray) -> list:
    return [d for d in face_detector.detect(frame) if d.score >= FACE_MIN_SCORE]


@pytest.mark.parametrize("photo", ["astronaut.jpg", "grace_hopper.jpg"])
def test_with_the_coco_model_faces_are_found_by_the_face_model_and_pixelated(coco_detector, face_detector,
                                                                             load_photo, photo):
    frame = load_photo(photo)
    detections = coco_detector.detect(frame)
    assert "face" not in coco_detector.labels
    assert any(d.label == "person" for d in detections)
    assert _faces(face_detector, frame), "the photo has a face to begin with"
    redacted = _stage().redact(frame, coco_detector.labels, detections)
    assert _faces(face_detector, redacted) == []  # what leaves has no face the face model can find
    assert np.mean(redacted != frame) < 0.4  # the face region (a large part of a portrait), not the whole picture


def test_a_privacy_strict_label_of_the_main_model_is_pixelated_too(coco_detector, load_photo):
    frame = load_photo("grace_hopper.jpg")
    detections = coco_detector.detect(frame)
    faces_only = _stage().redact(frame, coco_detector.labels, detections)
    whole_person = _stage({"person"}).redact(frame, coco_detector.labels, detections)
    assert np.mean(whole_person != frame) > 2 * np.mean(faces_only != frame)


def test_a_main_model_that_finds_faces_supplies_the_boxes_itself(face_detector, load_photo):
    frame = load_photo("astronaut.jpg")
    detections = face_detector.detect(frame)
    stage = PrivacyStage(frozenset(), 0.25, None, FACE_MIN_SCORE)  # no face model: the main model's faces only
    assert np.array_equal(stage.redact(frame, face_detector.labels, detections), frame)  # no label to blur
    with_faces = _stage().redact(frame, face_detector.labels, detections)
    assert _faces(face_detector, with_faces) == []


def test_a_face_model_that_does_not_load_withholds_every_upload_and_says_why(coco_detector, load_photo, tmp_path):
    stage = _stage(model_dir=tmp_path / "missing-face-model")
    assert stage.unavailable is not None
    assert "SMARTCAM_PRIVACY_MODEL_DIR" in stage.unavailable
    assert "no image is uploaded" in stage.unavailable
    frame = load_photo("coffee.jpg")
    with pytest.raises(PrivacyUnavailableError, match="missing-face-model"):
        stage.redact(frame, coco_detector.labels, coco_detector.detect(frame))


def test_privacy_faces_off_blurs_only_the_configured_labels(coco_detector, load_photo):
    frame = load_photo("astronaut.jpg")
    stage = _stage(faces=False)
    assert stage.unavailable is None
    assert np.array_equal(stage.redact(frame, coco_detector.labels, coco_detector.detect(frame)), frame)
