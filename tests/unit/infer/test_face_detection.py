"""The real BlazeFace model on the real replay photos.

Face regions were read off the photos by eye (pixel grid overlay), independent of the model:
astronaut.jpg (512x512) face from x 175..275, y 55..165; grace_hopper.jpg (512x600) face from
x 160..360, y 140..345. Measured top scores with letterbox: astronaut 0.92, grace_hopper 0.95;
faceless: chelsea (cat) 0.51, coffee 0.28, rocket 0.13. The policy threshold 0.7 (`face:0.7`, what the
README gives for the face model as main detector) sits
between the best false positive (0.51) and the weakest real face seen (0.78, skimage camera.png).
"""

from __future__ import annotations

import numpy as np
import pytest

FACE_THRESHOLD = 0.7  # SMARTCAM_DETECT_LABELS=face:0.7 with the face model as main detector

FACE_REGIONS = {  # photo -> (x0, y0, x1, y1) in pixels, read off the image
    "astronaut.jpg": (175, 55, 275, 165),
    "grace_hopper.jpg": (160, 140, 360, 345),
}


def _threshold() -> float:
    return FACE_THRESHOLD


@pytest.mark.parametrize("photo", sorted(FACE_REGIONS))
def test_one_face_found_where_the_face_is(face_detector, load_photo, photo):
    image = load_photo(photo)
    height, width = image.shape[:2]
    faces = [d for d in face_detector.detect(image) if d.score >= _threshold()]
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    rx0, ry0, rx1, ry1 = FACE_REGIONS[photo]
    centre_x, centre_y = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    assert rx0 <= centre_x <= rx1
    assert ry0 <= centre_y <= ry1
    region_width = rx1 - rx0
    assert 0.6 * region_width <= (x1 - x0) * width <= 1.5 * region_width  # a face-sized box, not the photo


@pytest.mark.parametrize("photo", ["chelsea.jpg", "coffee.jpg", "rocket.jpg"])
def test_no_face_above_the_policy_threshold_on_faceless_photos(face_detector, load_photo, photo):
    detections = face_detector.detect(load_photo(photo))
    assert all(d.score < _threshold() for d in detections)


@pytest.mark.parametrize(("canvas_shape", "offset"), [((256, 384), (128, 0)), ((384, 256), (0, 64))])
def test_boxes_map_back_to_the_original_frame_through_the_letterbox(face_detector, load_photo, canvas_shape, offset):
    """The same face pasted into a wide (or tall) frame must come back at its pasted position."""
    face_crop = np.ascontiguousarray(load_photo("astronaut.jpg")[0:256, 100:356])
    canvas = np.full((*canvas_shape, 3), 128, np.uint8)
    left, top = offset
    canvas[top:top + 256, left:left + 256] = face_crop
    (alone,) = [d for d in face_detector.detect(face_crop) if d.score >= _threshold()]
    (pasted,) = [d for d in face_detector.detect(canvas) if d.score >= _threshold()]
    height, width = canvas_shape
    expected = ((left + alone.box[0] * 256) / width, (top + alone.box[1] * 256) / height,
                (left + alone.box[2] * 256) / width, (top + alone.box[3] * 256) / height)
    assert pasted.box == pytest.approx(expected, abs=0.03)
