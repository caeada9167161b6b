"""Wire protocol: round trips, zero-copy payloads, and every kind of malformed input."""

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from smartcam.common.wire import (
    Ack,
    Detection,
    Event,
    Frame,
    FrameRequest,
    ImagePart,
    Location,
    ModelRef,
    WireError,
    decode,
    encode,
)

CAPTURED = datetime(2026, 11, 27, 3, 30, 15, 123000, tzinfo=UTC)


BERLIN = Location(52.5, 13.4)


def make_frame(shape=(4, 6, 3), location=BERLIN):
    pixels = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    return Frame("cam-1", 7, CAPTURED, location, [ImagePart("main", "RGB24", shape)], [pixels]), pixels


def make_event():
    return Event("e-1", "cam-1", 9, CAPTURED, None, [Detection("face", 0.91, (0.1, 0.2, 0.3, 0.4))],
                 ModelRef("blazeface", "ab" * 32), sample=False, image=b"\xff\xd8jpeg")


def test_frame_round_trip_keeps_pixels_and_metadata():
    frame, pixels = make_frame()
    decoded = decode(encode(frame))
    assert isinstance(decoded, Frame)
    assert (decoded.camera_id, decoded.seq, decoded.captured_at, decoded.location) == ("cam-1", 7, CAPTURED,
                                                                                        Location(52.5, 13.4))
    assert np.array_equal(decoded.image(), pixels)
    assert decoded.image("main").shape == (4, 6, 3)


def test_frame_payload_is_passed_through_without_copy():
    frame, pixels = make_frame()
    parts = encode(frame)
    assert parts[1] is pixels
    header = json.loads(parts[0])
    assert header["smartcam"] == 1
    assert header["type"] == "frame"
    assert header["captured_at"] == "2026-11-27T03:30:15.123Z"
    assert header["parts"] == [{"name": "main", "pixel_format": "RGB24", "shape": [4, 6, 3]}]


def test_event_and_ack_and_request_round_trip():
    event = make_event()
    decoded = decode(encode(event))
    assert isinstance(decoded, Event)
    assert decoded.event_id == "e-1"
    assert decoded.detections == [Detection("face", 0.91, (0.1, 0.2, 0.3, 0.4))]
    assert decoded.image == b"\xff\xd8jpeg"
    assert decoded.model == ModelRef("blazeface", "ab" * 32)
    assert decode(encode(Ack("e-1", True))) == Ack("e-1", True, None)
    assert isinstance(decode(encode(FrameRequest())), FrameRequest)


def test_location_may_be_null():
    frame, _ = make_frame(location=None)
    assert decode(encode(frame)).location is None


def header(**fields):
    return json.dumps({"smartcam": 1, **fields}).encode()


GOOD_FRAME = {"type": "frame", "camera_id": "c", "seq": 1, "captured_at": "2026-11-27T03:30:15Z",
              "location": None, "parts": [{"name": "main", "pixel_format": "RGB24", "shape": [2, 2, 3]}]}


@pytest.mark.parametrize(("parts", "kind"), [
    ([], "empty"),
    ([b"\x00\x01binary"], "foreign"),
    ([b"[1, 2]"], "foreign"),
    ([json.dumps({"type": "frame"}).encode()], "foreign"),
    ([json.dumps({"smartcam": 99, "type": "frame"}).encode()], "version"),
    ([header(type="selfie")], "unknown_type"),
    ([header(**GOOD_FRAME)], "payload_count"),
    ([header(**GOOD_FRAME), b"short"], "payload_size"),
    ([header(**{**GOOD_FRAME, "seq": "one"}), bytes(12)], "bad_field"),
    ([header(**{**GOOD_FRAME, "seq": True}), bytes(12)], "bad_field"),
    ([header(**{**GOOD_FRAME, "captured_at": "yesterday"}), bytes(12)], "bad_field"),
    ([header(**{**GOOD_FRAME, "captured_at": "2026-11-27T03:30:15"}), bytes(12)], "bad_field"),
    ([header(**{**GOOD_FRAME, "location": {"lat": 200, "lon": 0}}), bytes(12)], "bad_field"),
    ([header(**{**GOOD_FRAME, "parts": [{"name": "main", "pixel_format": "YUYV", "shape": [2, 2, 3]}]}),
      bytes(12)], "pixel_format"),
    ([header(**{**GOOD_FRAME, "parts": [{"name": "main", "pixel_format": "RGB24", "shape": [2, 2, 1]}]}),
      bytes(4)], "bad_field"),
    ([header(type="event", event_id="e", camera_id="c", seq=1, captured_at="2026-11-27T03:30:15Z",
             detections=[{"label": "face"}], model={}), b"jpg"], "bad_field"),
    ([header(type="event", event_id="e"), b"a", b"b"], "payload_count"),
    ([header(type="ack")], "missing_field"),
    ([b"{" + b" " * 70_000 + b"}"], "header_too_large"),
])
def test_malformed_messages_raise_wire_error_of_a_stable_kind(parts, kind):
    with pytest.raises(WireError) as raised:
        decode(parts)
    assert raised.value.kind == kind
