"""Wire protocol: round trips, zero-copy payloads, and every kind of malformed input."""

import json
import time
from datetime import UTC, datetime

import numpy as np
import pytest
import zmq

from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameClient, LatestFrameServer
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


GOOD_EVENT = {"type": "event", "event_id": "0f9c4b3e5d6a4f1e8a7b2c3d4e5f6a7b", "camera_id": "cam-1", "seq": 1,
              "captured_at": "2026-11-27T03:30:15Z", "location": None, "detections": [],
              "model": {"name": "m", "sha256": "ab"}, "sample": False}


@pytest.mark.parametrize(("fields", "kind"), [
    ({"event_id": "poison-€"}, "bad_id"),  # not Latin-1: once killed delivery with UnicodeEncodeError
    ({"event_id": "evil\r\nX-Injected: 1"}, "bad_id"),  # fails HTTP header validation forever
    ({"event_id": ""}, "bad_id"),
    ({"event_id": "e" * 129}, "bad_id"),
    ({"event_id": "line\n"}, "bad_id"),
    ({"camera_id": "cam 1"}, "bad_id"),
    ({"camera_id": "cam/../1"}, "bad_id"),
    ({"captured_at": "9999-12-31T23:59:59-23:59"}, "bad_time"),  # once OverflowError
    ({"captured_at": "0001-01-01T00:00:00+23:59"}, "bad_time"),
    ({"captured_at": "1970-01-01T00:00:00Z"}, "bad_time"),
    ({"captured_at": "2100-01-01T00:00:00Z"}, "bad_time"),
    ({"content_type": "image/jpeg\r\nX-Injected: 1"}, "bad_field"),
    ({"detections": [{"label": "face", "score": "nan", "box": [0, 0, 1, 1]}]}, "bad_field"),
    ({"detections": [{"label": "face", "score": 0.5, "box": [0, 0, 1, "inf"]}]}, "bad_field"),
])
def test_hostile_events_are_rejected_with_a_stable_kind(fields, kind):
    with pytest.raises(WireError) as raised:
        decode([header(**{**GOOD_EVENT, **fields}), b"jpg"])
    assert raised.value.kind == kind


@pytest.mark.parametrize(("fields", "kind"), [
    ({"camera_id": "poison-€"}, "bad_id"),
    ({"captured_at": "9999-12-31T23:59:59-23:59"}, "bad_time"),  # once OverflowError (capture and infer)
    ({"parts": [{"name": "main", "pixel_format": "RGB24", "shape": [1e999, 2, 3]}]}, "bad_field"),
])
def test_hostile_frames_are_rejected_with_a_stable_kind(fields, kind):
    raw = json.dumps({"smartcam": 1, **GOOD_FRAME, **fields}).encode()  # 1e999 is sent as Infinity
    with pytest.raises(WireError) as raised:
        decode([raw, bytes(12)])
    assert raised.value.kind == kind


def compact(fields):
    """A frame header laid out as `encode` writes it (so it takes decode's fast path)."""
    return json.dumps({"smartcam": 1, "type": "frame", **fields}, separators=(",", ":")).encode()


FRAME_CASES = [
    ({"camera_id": "poison-€"}, "bad_id"),
    ({"captured_at": "9999-12-31T23:59:59-23:59"}, "bad_time"),
    ({"captured_at": "2026-11-27T03:30:15"}, "bad_field"),
    ({"seq": True}, "bad_field"),
    ({"location": {"lat": 200, "lon": 0}}, "bad_field"),
    ({"location": {"lat": float("nan"), "lon": 0}}, "bad_field"),
    ({"parts": [{"name": "main", "pixel_format": "RGB24", "shape": [1e999, 2, 3]}]}, "bad_field"),
    ({"parts": [{"name": "main", "pixel_format": "YUYV", "shape": [2, 2, 3]}]}, "pixel_format"),
    ({"parts": [{"name": "main", "pixel_format": "RGB24", "shape": [2, 2, 4]}]}, "bad_field"),
    ({"camera_id": None}, "bad_field"),
]


@pytest.mark.parametrize(("fields", "kind"), FRAME_CASES)
def test_frames_laid_out_as_encode_writes_them_are_rejected_with_the_same_kinds(fields, kind):
    good = {key: value for key, value in GOOD_FRAME.items() if key != "type"}
    raw = compact({**good, **fields})
    assert raw.startswith(b'{"smartcam":1,"type":"frame",')
    with pytest.raises(WireError) as raised:
        decode([raw, bytes(12)])
    assert raised.value.kind == kind


def test_a_later_duplicate_version_key_wins_on_the_fast_path_too():
    good = {key: value for key, value in GOOD_FRAME.items() if key != "type"}
    raw = compact(good)[:-1] + b',"smartcam":2}'
    with pytest.raises(WireError) as raised:
        decode([raw, bytes(12)])
    assert raised.value.kind == "version"


def test_a_frame_decodes_the_same_whatever_the_header_layout():
    frame, pixels = make_frame()
    encoded = encode(frame)
    spaced = json.dumps(json.loads(encoded[0]), indent=1).encode()  # not the layout encode writes
    fast, general = decode(encoded), decode([spaced, *encoded[1:]])
    for received in (fast, general):
        assert (received.camera_id, received.seq, received.captured_at, received.location, received.parts) == (
            frame.camera_id, frame.seq, frame.captured_at, frame.location, frame.parts)
        np.testing.assert_array_equal(received.image(), pixels)


def test_an_ack_for_a_hostile_event_id_is_rejected():
    with pytest.raises(WireError) as raised:
        decode([header(type="ack", event_id="poison-€", stored=True)])
    assert raised.value.kind == "bad_id"


@pytest.mark.parametrize("moment", ["2000-01-01T00:00:00Z", "2099-12-31T23:59:59.999+00:00",
                                    "2026-11-27T03:30:15.123-05:00"])
def test_times_within_the_documented_range_are_accepted(moment):
    decoded = decode([header(**{**GOOD_EVENT, "captured_at": moment}), b"jpg"])
    assert decoded.captured_at.tzinfo is UTC


@pytest.mark.parametrize("value", ["0f9c4b3e5d6a4f1e8a7b2c3d4e5f6a7b", "hb-smartcam-demo-1795750215123",
                                   "cam.example.org", "A:b_c-1", "x" * 128])
def test_ids_in_the_documented_charset_are_accepted(value):
    decoded = decode([header(**{**GOOD_EVENT, "event_id": value, "camera_id": value}), b"jpg"])
    assert (decoded.event_id, decoded.camera_id) == (value, value)


def test_capture_survives_a_forged_frame_with_an_overflowing_time(zmq_context, counters, logger, free_port):
    """Sent to capture's frame server, this once raised OverflowError out of `serve` and ended capture."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger)
    intruder = zmq_context.socket(zmq.DEALER)
    intruder.connect(endpoint)
    forged = {**GOOD_FRAME, "captured_at": "9999-12-31T23:59:59-23:59"}
    intruder.send_multipart([json.dumps({"smartcam": 1, **forged}).encode(), bytes(12)])
    client = LatestFrameClient(zmq_context, endpoint, Counters(), logger)
    frame, _ = make_frame()
    server.offer(frame)
    got = None
    deadline = time.monotonic() + 5
    while got is None and time.monotonic() < deadline:
        server.serve(0.05)
        got = client.next_frame(0.05)
    assert got is not None  # still serving
    assert counters.get("rejected.bad_time") == 1
    intruder.close(0)
    client.close()
    server.close()
