"""Payload formats: exact field sets, base64 round trip, a parseable multipart body, legacy fields."""

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from smartcam.common.contracts.parts import CameraHealthFigures, CameraHealthReport
from smartcam.common.wire import Detection
from smartcam.uploader import payloads
from smartcam.uploader.settings import PayloadFormat

DOCUMENTED_FIELDS = {"event_id", "camera_id", "captured_at", "location", "detections", "model", "image", "sample"}


def body_of(event, payload_format):
    return payloads.build(payload_format, payloads.describe(event), event.image)


def test_json_has_exactly_the_documented_fields(make_event):
    event = make_event(3)
    body = body_of(event, PayloadFormat.JSON)
    document = json.loads(body.content)
    assert body.content_type == "application/json"
    assert set(document) == DOCUMENTED_FIELDS
    assert document["event_id"] == "evt-3"
    assert document["camera_id"] == "cam-1"
    assert document["captured_at"] == "2026-11-27T06:00:03.000Z"
    assert document["location"] == {"lat": 52.52, "lon": 13.405}
    assert document["detections"] == [{"label": "face", "score": 0.8765, "box": [0.1, 0.2, 0.5, 0.6]}]
    assert document["model"] == {"name": "blazeface", "sha256": "ab" * 32}
    assert document["sample"] is False
    assert set(document["image"]) == {"content_type", "data"}
    assert document["image"]["content_type"] == "image/jpeg"
    assert base64.b64decode(document["image"]["data"], validate=True) == event.image


def test_json_of_a_sample_without_location(make_event):
    document = json.loads(body_of(make_event(1, sample=True, location=None), PayloadFormat.JSON).content)
    assert set(document) == DOCUMENTED_FIELDS
    assert document["location"] is None
    assert document["detections"] == []
    assert document["sample"] is True


def test_multipart_has_a_metadata_part_without_image_data_and_the_raw_jpeg(make_event):
    event = make_event(4)
    body = body_of(event, PayloadFormat.MULTIPART)
    assert body.content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n"
                                                  + body.content)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(parts) == {"metadata", "image"}
    assert parts["metadata"].get_content_type() == "application/json"
    metadata = json.loads(parts["metadata"].get_payload(decode=True))
    assert set(metadata) == DOCUMENTED_FIELDS
    assert metadata["image"] == {"content_type": "image/jpeg"}
    expected = json.loads(body_of(event, PayloadFormat.JSON).content)
    del expected["image"]["data"]
    assert metadata == expected
    assert parts["image"].get_content_type() == "image/jpeg"
    assert parts["image"].get_filename() == "cam-1_20261127T060004.000Z.jpg"
    assert parts["image"].get_payload(decode=True) == event.image


def test_legacy_has_exactly_photo_time_location_filename(make_event):
    event = make_event(5)
    document = json.loads(body_of(event, PayloadFormat.LEGACY).content)
    assert set(document) == {"photo", "time", "location", "filename"}
    assert base64.b64decode(document["photo"], validate=True) == event.image
    assert document["time"] == "2026-11-27T06:00:05.000Z"
    assert document["location"] == {"lat": 52.52, "lon": 13.405}
    assert document["filename"] == "cam-1_20261127T060005.000Z.jpg"


@pytest.mark.parametrize(("camera_id", "expected"), [("cam/../../etc", "cam-etc"), ("///", "camera")])
def test_legacy_file_names_are_safe_whatever_the_camera_id(make_event, camera_id, expected):
    description = payloads.describe(make_event(0))
    description["camera_id"] = camera_id
    assert payloads.file_name(description) == f"{expected}_20261127T060000.000Z.jpg"


DARK = CameraHealthReport(condition="dark", state="raised", figures=CameraHealthFigures(
    brightness=0.02, sharpness=1.5, sharpness_reference=180.0, change=0.4, correlation=None))


def camera_health_event(make_event):
    event = make_event(6)
    event.detections = [Detection("camera_health:dark", 1.0, (0.0, 0.0, 1.0, 1.0))]
    event.camera_health = DARK
    return event


def test_a_camera_health_event_carries_its_typed_part_and_the_first_release_label(make_event):
    event = camera_health_event(make_event)
    document = json.loads(body_of(event, PayloadFormat.JSON).content)
    assert set(document) == DOCUMENTED_FIELDS | {"camera_health"}
    assert document["camera_health"] == {"condition": "dark", "state": "raised", "figures": {
        "brightness": 0.02, "sharpness": 1.5, "sharpness_reference": 180.0, "change": 0.4, "correlation": None}}
    assert document["detections"][0]["label"] == "camera_health:dark"  # for targets that read the label
    body = body_of(event, PayloadFormat.MULTIPART)
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n"
                                                  + body.content)
    [metadata] = [json.loads(part.get_payload(decode=True)) for part in message.iter_parts()
                  if part.get_param("name", header="content-disposition") == "metadata"]
    assert metadata["camera_health"] == document["camera_health"]
    assert set(json.loads(body_of(event, PayloadFormat.LEGACY).content)) == {"photo", "time", "location", "filename"}


def test_a_description_stored_by_the_previous_release_still_builds(make_event):
    """Queued before the upgrade: no camera_health key at all; the body has exactly the documented fields."""
    description = payloads.describe(make_event(7))
    assert "camera_health" not in description
    assert set(json.loads(payloads.build(PayloadFormat.JSON, description, b"jpeg").content)) == DOCUMENTED_FIELDS
