"""The smartcam wire protocol: versioned multipart ZeroMQ messages.

Part 0 is a small UTF-8 JSON header; every further part is a raw payload sent without copying.
The header always carries `"smartcam": <schema version>` and `"type"`; anything without them is
foreign and rejected. Messages:

- `frame_request` (infer -> capture): "send me the newest frame" (credit-based, latest-frame wins).
- `frame` (capture -> infer): one captured frame; one payload part per image stream in `parts`.
- `event` (infer -> uploader): an event worth uploading; one payload part, the JPEG.
- `ack` (uploader -> infer): the event with `event_id` is stored durably (or refused, with why).

`decode` never raises anything but `WireError`, whose `kind` is a short stable label used to count
and log rejects once per kind.

What comes off the wire ends up in HTTP headers, file names, logs and sort keys, so it is bounded
here, where it enters: event and camera ids match `ID_PATTERN` (ASCII letters, digits and `._:-`,
1-128 characters; kind `bad_id`), times lie in [`TIME_MIN`, `TIME_MAX`) UTC (kind `bad_time`),
scores and boxes are finite numbers, and the content type is a plain `type/subtype`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1
MAGIC_KEY = "smartcam"
MAX_HEADER_BYTES = 64 * 1024

# Event and camera ids: safe in HTTP headers, file names and log lines (infer's are uuid4 hex).
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ZONE_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # zone names reach JSON and logs
MAX_ZONES = 32
ID_RULE = "1-128 characters from A-Z a-z 0-9 . _ : -"
# Capture times outside this range are rejected: a camera's clock is never there, and far-off
# years overflow date arithmetic (9999-12-31T23:59:59-23:59 is past year 9999 in UTC).
TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9.+-]{1,64}/[A-Za-z0-9.+-]{1,64}")

# Bytes per pixel for each pixel format; frames are tightly packed (no row padding).
PIXEL_FORMATS: dict[str, int] = {"RGB24": 3, "BGR24": 3, "GRAY8": 1}


class WireError(ValueError):
    """A message that is malformed, foreign or of an unsupported version."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float

    def to_json(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


@dataclass(frozen=True)
class ImagePart:
    """Describes one payload part of a frame: which stream, its pixel format and shape."""

    name: str
    pixel_format: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape)


@dataclass
class FrameRequest:
    """Credit from a consumer: it is ready for the newest frame."""


@dataclass
class Frame:
    camera_id: str
    seq: int
    captured_at: datetime
    location: Location | None
    parts: list[ImagePart]
    buffers: list[Any] = field(repr=False)  # bytes, memoryview or numpy arrays; one per part

    def image(self, name: str | None = None) -> np.ndarray:
        """The named stream (default: the first) as an HxWxC (or HxW) uint8 array, without copying."""
        import numpy as np  # noqa: PLC0415  (the uploader never needs numpy)

        index = 0 if name is None else [p.name for p in self.parts].index(name)
        part = self.parts[index]
        return np.frombuffer(self.buffers[index], dtype=np.uint8).reshape(part.shape)

    def has_stream(self, name: str) -> bool:
        return any(p.name == name for p in self.parts)


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 normalised to 0..1
    zones: tuple[str, ...] = ()  # named zones (infer's SMARTCAM_ZONES) the object stands in; sent only when any

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"label": self.label, "score": round(self.score, 4),
                                    "box": [round(v, 4) for v in self.box]}
        if self.zones:
            document["zones"] = list(self.zones)
        return document


@dataclass(frozen=True)
class ModelRef:
    name: str
    sha256: str


@dataclass
class Event:
    event_id: str
    camera_id: str
    seq: int
    captured_at: datetime
    location: Location | None
    detections: list[Detection]
    model: ModelRef
    sample: bool
    image: bytes = field(repr=False)
    content_type: str = "image/jpeg"


@dataclass(frozen=True)
class Ack:
    event_id: str
    stored: bool
    reason: str | None = None


Message = FrameRequest | Frame | Event | Ack


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix and millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _header(message_type: str, **fields: Any) -> bytes:
    return json.dumps({MAGIC_KEY: SCHEMA_VERSION, "type": message_type, **fields},
                      separators=(",", ":")).encode()


def encode(message: Message) -> list[Any]:
    """Turn a message into multipart frames; payloads are passed through untouched (zero-copy)."""
    if isinstance(message, FrameRequest):
        return [_header("frame_request")]
    if isinstance(message, Frame):
        header = _header(
            "frame", camera_id=message.camera_id, seq=message.seq,
            captured_at=format_time(message.captured_at),
            location=message.location.to_json() if message.location else None,
            parts=[{"name": p.name, "pixel_format": p.pixel_format, "shape": list(p.shape)}
                   for p in message.parts],
        )
        return [header, *message.buffers]
    if isinstance(message, Event):
        header = _header(
            "event", event_id=message.event_id, camera_id=message.camera_id, seq=message.seq,
            captured_at=format_time(message.captured_at),
            location=message.location.to_json() if message.location else None,
            detections=[d.to_json() for d in message.detections],
            model={"name": message.model.name, "sha256": message.model.sha256},
            sample=message.sample, content_type=message.content_type,
        )
        return [header, message.image]
    if isinstance(message, Ack):
        return [_header("ack", event_id=message.event_id, stored=message.stored, reason=message.reason)]
    raise TypeError(f"not a smartcam message: {type(message).__name__}")


def _as_bytes(part: Any) -> bytes:
    if isinstance(part, bytes):
        return part
    if hasattr(part, "bytes"):  # zmq.Frame
        return part.bytes
    return bytes(part)


def _as_buffer(part: Any) -> Any:
    return part.buffer if hasattr(part, "buffer") else part


def _require(header: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    if name not in header:
        raise WireError("missing_field", f"header has no {name!r}")
    value = header[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
        raise WireError("bad_field", f"{name!r} has the wrong type ({type(value).__name__})")
    return value


def valid_id(value: object) -> bool:
    """Whether `value` is an id as the wire protocol allows it (`ID_PATTERN`)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _require_id(header: dict[str, Any], name: str) -> str:
    value = _require(header, name, str)
    if not valid_id(value):
        raise WireError("bad_id", f"{name} {value[:140]!r} is not {ID_RULE}")
    return value


def _parse_time(header: dict[str, Any]) -> datetime:
    text = _require(header, "captured_at", str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise WireError("bad_field", f"captured_at {text[:64]!r} is not ISO-8601") from error
    if moment.tzinfo is None:
        raise WireError("bad_field", f"captured_at {text!r} has no time zone")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = TIME_MAX  # beyond the year 9999 in UTC: out of range below
    if not TIME_MIN <= moment < TIME_MAX:
        raise WireError("bad_time", f"captured_at {text!r} is outside {TIME_MIN.year}..{TIME_MAX.year - 1} UTC; "
                                    "is the camera's clock set (NTP)?")
    return moment


def _parse_location(header: dict[str, Any]) -> Location | None:
    value = header.get("location")
    if value is None:
        return None
    try:
        lat, lon = float(value["lat"]), float(value["lon"])
    except (TypeError, KeyError, ValueError) as error:
        raise WireError("bad_field", f"location {value!r} is not {{lat, lon}}") from error
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise WireError("bad_field", f"location {value!r} is out of range")
    return Location(lat, lon)


def _parse_parts(header: dict[str, Any], payloads: Sequence[Any]) -> list[ImagePart]:
    described = _require(header, "parts", list)
    if len(described) != len(payloads) or not described:
        raise WireError("payload_count", f"header describes {len(described)} parts, message has {len(payloads)}")
    parts = []
    for item, payload in zip(described, payloads, strict=True):
        try:
            part = ImagePart(str(item["name"]), str(item["pixel_format"]), tuple(int(v) for v in item["shape"]))
        except (TypeError, KeyError, ValueError, OverflowError) as error:
            raise WireError("bad_field", f"part description {item!r} is not {{name, pixel_format, shape}}") from error
        channels = PIXEL_FORMATS.get(part.pixel_format)
        if channels is None:
            raise WireError("pixel_format", f"unknown pixel format {part.pixel_format!r}")
        expected_rank = 2 if channels == 1 else 3
        if len(part.shape) != expected_rank or any(v <= 0 for v in part.shape) or (
                expected_rank == 3 and part.shape[2] != channels):
            raise WireError("bad_field", f"shape {list(part.shape)} does not fit {part.pixel_format}")
        size = memoryview(_as_buffer(payload)).nbytes
        if size != part.nbytes:
            raise WireError("payload_size", f"part {part.name!r} has {size} bytes, shape needs {part.nbytes}")
        parts.append(part)
    return parts


def _parse_detections(header: dict[str, Any]) -> list[Detection]:
    detections = []
    for item in _require(header, "detections", list):
        try:
            box = tuple(float(v) for v in item["box"])
            detection = Detection(str(item["label"]), float(item["score"]), box)  # type: ignore[arg-type]
        except (TypeError, KeyError, ValueError) as error:
            raise WireError("bad_field", f"detection {item!r} is not {{label, score, box}}") from error
        if len(box) != 4:
            raise WireError("bad_field", f"detection box {list(box)} does not have 4 values")
        if not all(math.isfinite(v) for v in (detection.score, *box)):
            raise WireError("bad_field", f"detection {item!r} holds a number that is not finite")
        zones = item.get("zones", [])
        if not isinstance(zones, list) or len(zones) > MAX_ZONES or not all(
                isinstance(zone, str) and ZONE_PATTERN.fullmatch(zone) for zone in zones):
            raise WireError("bad_field", f"detection zones {zones!r} are not up to {MAX_ZONES} names of "
                            "1-64 characters from A-Z a-z 0-9 . _ : -")
        if zones:
            detection = Detection(detection.label, detection.score, detection.box, tuple(zones))
        detections.append(detection)
    return detections


def decode(parts: Sequence[Any]) -> Message:
    """Parse multipart frames (bytes or zmq.Frame) into a message, or raise WireError."""
    if not parts:
        raise WireError("empty", "message has no parts")
    raw_header = _as_bytes(parts[0])
    if len(raw_header) > MAX_HEADER_BYTES:
        raise WireError("header_too_large", f"header is {len(raw_header)} bytes")
    try:
        header = json.loads(raw_header)
    except (UnicodeDecodeError, ValueError) as error:
        raise WireError("foreign", "first part is not a JSON header") from error
    if not isinstance(header, dict) or MAGIC_KEY not in header:
        raise WireError("foreign", "header lacks the smartcam schema marker")
    if header[MAGIC_KEY] != SCHEMA_VERSION:
        raise WireError("version", f"schema version {header[MAGIC_KEY]!r}, this build speaks {SCHEMA_VERSION}")
    payloads = parts[1:]
    message_type = header.get("type")
    if message_type == "frame_request":
        return FrameRequest()
    if message_type == "ack":
        return Ack(_require_id(header, "event_id"), bool(_require(header, "stored", bool)), header.get("reason"))
    if message_type == "frame":
        image_parts = _parse_parts(header, payloads)
        return Frame(
            camera_id=_require_id(header, "camera_id"), seq=_require(header, "seq", int),
            captured_at=_parse_time(header), location=_parse_location(header),
            parts=image_parts, buffers=[_as_buffer(p) for p in payloads],
        )
    if message_type == "event":
        if len(payloads) != 1:
            raise WireError("payload_count", f"event needs 1 image part, has {len(payloads)}")
        model = _require(header, "model", dict)
        content_type = str(header.get("content_type", "image/jpeg"))
        if not _CONTENT_TYPE.fullmatch(content_type):
            raise WireError("bad_field", f"content_type {content_type[:140]!r} is not a plain type/subtype")
        return Event(
            event_id=_require_id(header, "event_id"), camera_id=_require_id(header, "camera_id"),
            seq=_require(header, "seq", int), captured_at=_parse_time(header),
            location=_parse_location(header), detections=_parse_detections(header),
            model=ModelRef(str(model.get("name", "")), str(model.get("sha256", ""))),
            sample=bool(header.get("sample", False)), image=_as_bytes(payloads[0]),
            content_type=content_type,
        )
    raise WireError("unknown_type", f"message type {message_type!r}")
