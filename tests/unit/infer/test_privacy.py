"""Blurring before upload, and JPEG encoding with a size limit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from smartcam.common.wire import Detection
from smartcam.infer.privacy import blur_labels, encode_jpeg, pixel_box, redact_and_encode

FACE_BOX = (0.346, 0.157, 0.531, 0.342)  # the astronaut's face as the model finds it


def test_face_pixels_change_strongly_and_everything_outside_stays(load_photo):
    photo = load_photo("astronaut.jpg")
    photo.flags.writeable = False  # frames arrive as read-only views of the message buffer
    blurred = blur_labels(photo, [Detection("face", 0.9, FACE_BOX)], {"face"}, margin=0.25)
    x0, y0, x1, y1 = pixel_box(FACE_BOX, 512, 512, 0.25)
    inside = np.s_[y0:y1, x0:x1]
    outside = np.ones(photo.shape[:2], bool)
    outside[inside] = False
    assert np.array_equal(blurred[outside], photo[outside])
    difference = np.abs(blurred[inside].astype(int) - photo[inside].astype(int))
    assert difference.mean() > 10
    # irreversible-looking: the region holds only a few dozen distinct colours (blocks)
    colours = np.unique(blurred[inside].reshape(-1, 3), axis=0)
    assert len(colours) <= 7 * 7


def test_margin_grows_the_box_and_stays_inside_the_image():
    assert pixel_box((0.25, 0.25, 0.75, 0.75), 100, 100, 0.2) == (15, 15, 85, 85)
    assert pixel_box((0.0, 0.0, 0.5, 0.5), 100, 100, 0.5) == (0, 0, 75, 75)


def test_labels_not_configured_are_left_alone(load_photo):
    photo = load_photo("astronaut.jpg")
    assert blur_labels(photo, [Detection("face", 0.9, FACE_BOX)], set()) is photo
    assert blur_labels(photo, [Detection("person", 0.9, FACE_BOX)], {"face"}) is photo


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_jpeg_downscales_to_the_maximum_size_keeping_the_aspect_ratio(load_photo):
    photo = load_photo("grace_hopper.jpg")  # 512x600
    image = _decode(encode_jpeg(photo, quality=85, max_size=300))
    assert (image.format, image.size) == ("JPEG", (256, 300))
    assert _decode(encode_jpeg(photo, quality=85)).size == (512, 600)


def test_jpeg_quality_trades_bytes(load_photo):
    photo = load_photo("coffee.jpg")
    assert len(encode_jpeg(photo, quality=40)) < 0.7 * len(encode_jpeg(photo, quality=90))


def test_redact_and_encode_blurs_before_encoding(load_photo):
    photo = load_photo("astronaut.jpg")
    face = [Detection("face", 0.9, FACE_BOX)]
    redacted = np.asarray(_decode(redact_and_encode(photo, face, {"face"}, quality=95)))
    plain = np.asarray(_decode(redact_and_encode(photo, face, set(), quality=95)))
    x0, y0, x1, y1 = pixel_box(FACE_BOX, 512, 512, 0.25)
    region = np.s_[y0 + 4:y1 - 4, x0 + 4:x1 - 4]
    assert np.abs(redacted[region].astype(int) - plain[region].astype(int)).mean() > 10
    assert np.abs(redacted[:40].astype(int) - plain[:40].astype(int)).mean() == pytest.approx(0, abs=1)


def test_fill_boxes_leaves_one_flat_colour_in_the_box_and_nothing_else_changes(load_photo):
    from smartcam.infer.privacy import fill_boxes  # noqa: PLC0415

    photo = load_photo("astronaut.jpg")
    filled = fill_boxes(photo, [Detection("face", 0.6, FACE_BOX)], margin=0.25)
    x0, y0, x1, y1 = pixel_box(FACE_BOX, 512, 512, 0.25)
    assert len(np.unique(filled[y0:y1, x0:x1].reshape(-1, 3), axis=0)) == 1
    filled[y0:y1, x0:x1] = photo[y0:y1, x0:x1]
    assert np.array_equal(filled, photo)
    assert fill_boxes(photo, []) is photo
