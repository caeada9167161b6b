"""The whole appliance under Docker Compose: replay photos -> infer -> uploader -> a real HTTP target."""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "services/capture/photos"
MANIFEST = json.loads((REPO / "services/infer/models/blazeface-short-range/manifest.json").read_text())
FACE_PHOTOS = {"astronaut.jpg", "grace_hopper.jpg"}
PAYLOAD_FIELDS = {"event_id", "camera_id", "captured_at", "location", "detections", "model", "image", "sample"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def photo_by_aspect(width, height):
    """Which embedded photo an uploaded image came from (the photos' aspect ratios differ)."""
    aspect = width / height
    best = min(PHOTOS.glob("*.jpg"), key=lambda p: abs(Image.open(p).size[0] / Image.open(p).size[1] - aspect))
    return best.name


def sharpness(image):
    """High-frequency energy: the mean absolute difference from a blurred copy."""
    grey = image.convert("L")
    return float(np.abs(np.asarray(grey, float) - np.asarray(grey.filter(ImageFilter.GaussianBlur(2)), float)).mean())


def decoded_events(stack):
    events = []
    for record in stack.requests():
        payload = json.loads(base64.b64decode(record["body_b64"]))
        events.append((record, payload))
    return events


def test_faces_are_uploaded_blurred_and_other_photos_are_not(stack_factory):
    stack = stack_factory({"SMARTCAM_FPS": "4", "SMARTCAM_COOLDOWN_S": "0", "SMARTCAM_CAMERA_ID": "cam-it-1",
                           "SMARTCAM_LOCATION": "fixed:52.52,13.405"})
    stack.up("capture", "infer", "uploader", "target")
    stack.wait_for(lambda: {photo_by_aspect(*Image.open(io.BytesIO(base64.b64decode(p["image"]["data"]))).size)
                            for _, p in decoded_events(stack)} >= FACE_PHOTOS,
                   timeout_s=120, what="events from both face photos")
    events = decoded_events(stack)
    assert events
    for record, payload in events:
        assert set(payload) == PAYLOAD_FIELDS
        assert record["path"] == "/events"
        assert record["headers"]["Idempotency-Key"] == payload["event_id"]
        assert record["headers"]["Content-Type"].startswith("application/json")
        assert payload["camera_id"] == "cam-it-1"
        assert ISO_UTC.match(payload["captured_at"]), payload["captured_at"]
        assert payload["location"] == {"lat": 52.52, "lon": 13.405}
        assert payload["model"] == {"name": MANIFEST["name"], "sha256": MANIFEST["sha256"]}
        assert payload["sample"] is False
        assert payload["image"]["content_type"] == "image/jpeg"
        jpeg = base64.b64decode(payload["image"]["data"], validate=True)
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG"
        source = photo_by_aspect(*image.size)
        assert source in FACE_PHOTOS, f"{source} has no face but was uploaded: {payload['detections']}"
        faces = [d for d in payload["detections"] if d["label"] == "face"]
        assert faces, payload["detections"]
        for face in faces:
            x0, y0, x1, y1 = face["box"]
            assert 0 <= x0 < x1 <= 1
            assert 0 <= y0 < y1 <= 1
            assert face["score"] >= 0.7
            # The face region is blurred in the upload compared with the original photo.
            box = (int(x0 * image.width), int(y0 * image.height), int(x1 * image.width), int(y1 * image.height))
            original = Image.open(PHOTOS / source).convert("RGB").resize(image.size)
            assert sharpness(image.crop(box)) < 0.35 * sharpness(original.crop(box)), f"face not blurred in {source}"
    assert len({p["event_id"] for _, p in events}) == len(events), "an event was delivered under two keys"


def test_baseline_samples_are_marked_and_may_have_no_detections(stack_factory):
    stack = stack_factory({"SMARTCAM_FPS": "4", "SMARTCAM_COOLDOWN_S": "3600", "SMARTCAM_BASELINE_EVERY_N": "3",
                           "SMARTCAM_DETECT_LABELS": "face:0.7"})
    stack.up("capture", "infer", "uploader", "target")

    def sample_without_face():
        return any(p["sample"] and photo_by_aspect(
            *Image.open(io.BytesIO(base64.b64decode(p["image"]["data"]))).size) not in FACE_PHOTOS
            for _, p in decoded_events(stack))

    stack.wait_for(sample_without_face, timeout_s=120, what="a baseline sample of a photo without faces")
    events = decoded_events(stack)
    non_samples = [p for _, p in events if not p["sample"]]
    # With a one-hour cool-down, the face label is uploaded once however often the photos loop.
    assert len(non_samples) <= 1
    assert all(p["location"] is None for _, p in events)
