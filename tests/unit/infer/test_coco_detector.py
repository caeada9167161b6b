"""The bundled COCO detector (EfficientDet-Lite0) through the real interpreter, and the `ssd_anchors` decoder.

The model comes out of its pinned wheel through docker/fetch-coco-model, as in the image build.
Photos are the embedded ones and scikit-image's sample photos, which are not embedded anywhere here.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartcam.infer.decoders.ssd_anchors import MultiLevelAnchors, SsdAnchorsDecoder, generate_anchors
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.manifest import load_manifest
from smartcam.infer.model_file import embedded_labels, metadata_anchors


def _best(detections, label):
    scores = [d.score for d in detections if d.label == label]
    return max(scores, default=0.0)


@pytest.mark.parametrize(("photo", "label"), [
    ("astronaut.jpg", "person"), ("grace_hopper.jpg", "person"), ("chelsea.jpg", "cat"), ("coffee.jpg", "cup"),
])
def test_embedded_photos_show_what_a_person_would_name(coco_detector, load_photo, photo, label):
    detections = coco_detector.detect(load_photo(photo))
    assert _best(detections, label) >= 0.5, detections
    assert detections[0].label in {label, "dining table"}  # coffee: the table under the cup is fair too


def test_hooks_are_told_around_the_model_run_and_change_no_detection(coco_detector, load_photo):
    """Infer asks for its next frame during the run; the detections are the same as without hooks."""
    frame = load_photo("astronaut.jpg")
    calls = []

    class Hooks:
        def before_invoke(self):
            calls.append("before")

        def after_invoke(self):
            calls.append("after")

    detections = coco_detector.detect(frame, hooks=Hooks())
    assert calls == ["before", "after"]
    assert detections == coco_detector.detect(frame)


def test_the_cat_and_the_cup_are_not_people(coco_detector, load_photo):
    for photo in ("chelsea.jpg", "coffee.jpg"):
        assert _best(coco_detector.detect(load_photo(photo)), "person") < 0.3


@pytest.mark.parametrize(("photo", "label"), [
    ("camera.png", "person"), ("motorcycle_left.png", "motorcycle"), ("horse.png", "horse"),
])
def test_photos_not_embedded_show_what_a_person_would_name(coco_detector, skimage_photos, photo, label):
    with Image.open(skimage_photos / photo) as image:
        frame = np.asarray(image.convert("RGB"))
    detections = coco_detector.detect(frame)
    assert detections, f"nothing found in {photo}"
    assert detections[0].label == label, detections
    assert detections[0].score >= 0.6


def test_boxes_sit_on_the_object(coco_detector, load_photo):
    """Grace Hopper fills the portrait; the cup sits in the middle third of the coffee photo."""
    person = next(d for d in coco_detector.detect(load_photo("grace_hopper.jpg")) if d.label == "person")
    x0, y0, x1, y1 = person.box
    assert x1 - x0 > 0.8
    assert y1 - y0 > 0.8
    cup = next(d for d in coco_detector.detect(load_photo("coffee.jpg")) if d.label == "cup")
    centre_x = (cup.box[0] + cup.box[2]) / 2
    assert 0.35 < centre_x < 0.65


def test_labels_come_from_the_label_file_inside_the_model(coco_dir, coco_detector):
    labels = embedded_labels(coco_dir / "model.tflite")
    assert len(labels) == 90
    assert labels[:3] == ["person", "bicycle", "car"]
    assert "???" not in coco_detector.labels
    assert {"person", "car", "bus", "truck", "bicycle", "motorcycle", "boat", "cat", "dog"} <= set(coco_detector.labels)


def test_generated_anchors_are_the_models_own(coco_dir):
    manifest = load_manifest(coco_dir)
    options = MultiLevelAnchors.model_validate(manifest.decoder_options["anchors"])
    generated = generate_anchors(options, 320, 320)
    own = metadata_anchors(coco_dir / "model.tflite")
    assert own is not None
    assert own.shape == (19206, 4)
    np.testing.assert_allclose(generated, own, atol=1e-5)


def test_a_model_without_metadata_has_no_anchors_to_check(tiny_ssd_dir):
    assert metadata_anchors(tiny_ssd_dir / "model.tflite") is None


def _edited_copy(coco_dir: Path, tmp_path: Path, edit_manifest=None, edit_model=None) -> Path:
    target = tmp_path / "coco"
    target.mkdir()
    data = (coco_dir / "model.tflite").read_bytes()
    if edit_model is not None:
        (target / "model.tflite").write_bytes(data)
        edit_model(target / "model.tflite")
        data = (target / "model.tflite").read_bytes()
    else:
        (target / "model.tflite").write_bytes(data)
    manifest = json.loads((coco_dir / "manifest.json").read_text())
    manifest.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    if edit_manifest is not None:
        edit_manifest(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_anchor_parameters_giving_another_count_name_both_numbers(coco_dir, tmp_path):
    def six_levels(manifest):
        manifest["decoder_options"]["anchors"]["max_level"] = 6
    model_dir = _edited_copy(coco_dir, tmp_path, edit_manifest=six_levels)
    with pytest.raises(ModelError) as caught:
        Detector.load(model_dir)
    message = str(caught.value)
    assert "19125 anchors" in message
    assert "19206 boxes" in message
    assert "levels 3-6" in message


def test_anchor_parameters_with_the_right_count_but_wrong_sizes_are_caught_by_the_metadata(coco_dir, tmp_path):
    def bigger(manifest):
        manifest["decoder_options"]["anchors"]["anchor_scale"] = 4.0
    model_dir = _edited_copy(coco_dir, tmp_path, edit_manifest=bigger)
    with pytest.raises(ModelError, match=r"differ from the model's own anchors at \d+ of 19206"):
        Detector.load(model_dir)


def _without_zip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"PK\x03\x04")])


def test_a_model_without_its_label_file_is_refused_naming_it(coco_dir, tmp_path):
    model_dir = _edited_copy(coco_dir, tmp_path, edit_model=_without_zip)
    with pytest.raises(ModelError, match=r"has no embedded labels\.txt"):
        Detector.load(model_dir)


def test_a_label_file_with_the_wrong_count_is_refused_naming_both_counts(coco_dir, tmp_path):
    def short_labels(path: Path) -> None:
        labels = embedded_labels(path)
        _without_zip(path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("labels.txt", "\n".join(labels[:-1]) + "\n")
    model_dir = _edited_copy(coco_dir, tmp_path, edit_model=short_labels)
    with pytest.raises(ModelError, match=r"scores 90 classes .* the label file embedded in the model lists 89 labels"):
        Detector.load(model_dir)


def test_labels_in_the_manifest_and_embedded_at_once_is_an_error(coco_dir, tmp_path):
    def both(manifest):
        manifest["labels"] = ["person"]
    model_dir = _edited_copy(coco_dir, tmp_path, edit_manifest=both)
    with pytest.raises(ModelError, match="labels_from"):
        Detector.load(model_dir)


def test_generated_anchors_follow_the_parameters():
    """One level of a 64x64 input, stride 32: 2x2 cells, 2 anchors per cell, sizes in cells."""
    options = MultiLevelAnchors(min_level=5, max_level=5, num_scales=1, aspect_ratios=[1.0, 4.0], anchor_scale=2.0)
    anchors = generate_anchors(options, 64, 64)
    assert anchors.shape == (8, 4)
    np.testing.assert_allclose(anchors[0], [0.25, 0.25, 1.0, 1.0])  # 2 cells wide on a 2-cell map
    np.testing.assert_allclose(anchors[1], [0.25, 0.25, 2.0, 0.5])  # aspect 4: twice as wide, half as high
    np.testing.assert_allclose(anchors[2, :2], [0.75, 0.25])  # columns before rows


def test_the_default_labels_of_interest_are_labels_of_the_default_model(coco_detector):
    from smartcam.infer.settings import DEFAULT_DETECT_LABELS, parse_label_scores  # noqa: PLC0415

    assert set(parse_label_scores(DEFAULT_DETECT_LABELS)) <= set(coco_detector.labels)


def test_the_decoder_takes_each_anchor_with_a_score_over_the_threshold_once_and_drops_nan_rows(coco_dir):
    """The COCO model's own decoder on a scores tensor made by hand (threshold 0.3, probabilities)."""
    manifest = load_manifest(coco_dir)
    manifest = manifest.model_copy(update={"labels": embedded_labels(coco_dir / manifest.model_file)})
    count, classes = 19206, len(manifest.labels)
    details = [{"name": "boxes", "index": 0, "shape": np.array([1, count, 4]), "dtype": np.float32},
               {"name": "scores", "index": 1, "shape": np.array([1, count, classes]), "dtype": np.float32}]
    decoder = SsdAnchorsDecoder(manifest, details)
    scores = np.full((1, count, classes), 0.01, np.float32)
    boxes = np.zeros((1, count, 4), np.float32)  # each box is its anchor
    scores[0, 100, [3, 7]] = [0.4, 0.9]  # two classes over the threshold on one anchor: one candidate, its best
    scores[0, 5000, 0] = 0.3  # exactly the threshold
    scores[0, 9000, [1, 2]] = [0.8, np.nan]  # a row holding NaN is not trusted
    scores[0, 12000, 4] = 0.29  # under it
    found = decoder.decode(lambda index: (boxes, scores)[index], 25)
    assert sorted(zip(found.scores.tolist(), found.classes.tolist(), strict=True)) == [
        (pytest.approx(0.3), 0), (pytest.approx(0.9), 7)]
