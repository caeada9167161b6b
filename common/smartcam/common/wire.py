"""The smartcam wire protocol: versioned multipart ZeroMQ messages.

Part 0 is a small UTF-8 JSON header; every further part is a raw payload sent without copying.
The header always carries `"smartcam": <schema version>` and `"type"`; anything without them is
foreign and rejected. The header's fields are typed once, in `smartcam.common.contracts.wire_header`,
which also states what stays compatible during a rolling update. Messages:

- `frame_request` (infer -> capture): "send me the newest frame" (credit-based, latest-frame wins).
- `frame` (capture -> infer): one captured frame; one payload part per image stream in `parts`, or, when
  capture uses the shared-memory ring (`smartcam.common.ring`), no payload and a `ring` slot instead.
- `event` (infer -> uploader): an event worth uploading; one payload part, the JPEG.
- `ack` (uploader -> infer): the event with `event_id` is stored durably (or refused, with why).

`decode` never raises anything but `WireError`, whose `kind` is a short stable label used to count
and log rejects once per kind.

What comes off the wire ends up in HTTP headers, file names, logs and sort keys, so it is bounded
here, where it enters: event and camera ids match `ID_PATTERN` (ASCII letters, digits and `._:-`,
1-128 characters; kind `bad_id`), times lie in 2000..2099 UTC (kind `bad_time`),
scores and boxes are finite numbers, and the content type is a plain `type/subtype`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from smartcam.common.contracts.parts import CameraHealthReport
from smartcam.common.contracts.parts import Detection as DetectionDoc
from smartcam.common.contracts.parts import Location as LocationDoc
from smartcam.common.contracts.wire_header import (
    ID_REGEX,
    ID_RULE,
    MAGIC_KEY,
    WIRE_VERSION,
    AckHeader,
    EventHeader,
    FrameHeader,
    FrameRequestHeader,
    Header,
    ImagePartHeader,
    RingSlotHeader,
    WireModel,
    format_time,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Re-exported: the services import these from here.
__all__ = ["ID_RULE", "MAGIC_KEY", "Ack", "Detection", "Event", "Frame", "FrameRequest", "ImagePart", "Location",
           "Message", "ModelRef", "RingSlot", "WireError", "decode", "encode", "format_time", "valid_id"]
SCHEMA_VERSION = WIRE_VERSION
MAX_HEADER_BYTES = 64 * 1024
# Event and camera ids: safe in HTTP headers, file names and log lines (infer's are uuid4 hex).
ID_PATTERN = ID_REGEX
H = TypeVar("H", bound=Header)

# How `encode` starts every frame header (compact JSON, these keys first): such headers take the fast path.
_FRAME_PREFIX = b'{"%s":%d,"type":"frame",' % (MAGIC_KEY.encode(), WIRE_VERSION)

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

    def to_document(self) -> LocationDoc:
        return LocationDoc.model_construct(lat=self.lat, lon=self.lon)


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


@dataclass(frozen=True)
class RingSlot:
    """A frame's place in the shared-memory ring: which ring file, which slot, and the generation written."""

    ring_id: int
    index: int
    generation: int


@dataclass
class Frame:
    camera_id: str
    seq: int
    captured_at: datetime
    location: Location | None
    parts: list[ImagePart]
    buffers: list[Any] = field(repr=False)  # bytes, memoryview or numpy arrays; one per part (none before attach)
    ring: RingSlot | None = None  # set when the pixels travel through the shared-memory ring
    # For ring frames: True while the slot still holds this frame (smartcam.common.ring.RingReader sets it).
    guard: Callable[[], bool] | None = field(default=None, repr=False, compare=False)

    def intact(self) -> bool:
        """Whether the pixels read so far were this frame's: False if its ring slot was overwritten meanwhile.

        Check it after using the pixels (detection, encoding) and before trusting the result.
        """
        return self.guard is None or self.guard()

    def image(self, name: str | None = None) -> npt.NDArray[np.uint8]:
        """The named stream (default: the first) as an HxWxC (or HxW) uint8 array, without copying."""
        import numpy as np  # noqa: PLC0415  (the uploader never needs numpy)

        if len(self.buffers) != len(self.parts):
            raise ValueError(f"frame {self.seq} has no pixels yet: a ring frame needs RingReader.attach() first")
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

    def to_document(self) -> DetectionDoc:
        """As events carry it (header and upload body): score and box rounded to 4 decimals, zones when any."""
        x0, y0, x1, y1 = (round(v, 4) for v in self.box)
        return DetectionDoc.model_construct(label=self.label, score=round(self.score, 4), box=(x0, y0, x1, y1),
                                            zones=list(self.zones))


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
    camera_health: CameraHealthReport | None = None  # a camera_health event: the condition raised or cleared


@dataclass(frozen=True)
class Ack:
    event_id: str
    stored: bool
    reason: str | None = None


Message = FrameRequest | Frame | Event | Ack


def _location(location: Location | None) -> LocationDoc | None:
    return location.to_document() if location else None


def _header(header: Header) -> bytes:
    return header.model_dump_json().encode()


def encode(message: Message) -> list[Any]:
    """Turn a message into multipart frames; payloads are passed through untouched (zero-copy)."""
    if isinstance(message, FrameRequest):
        return [_header(FrameRequestHeader())]
    if isinstance(message, Frame):
        frame = FrameHeader.model_construct(
            camera_id=message.camera_id, seq=message.seq, captured_at=message.captured_at,
            location=_location(message.location),
            parts=[ImagePartHeader.model_construct(name=p.name, pixel_format=p.pixel_format, shape=list(p.shape))
                   for p in message.parts],
            ring=None if message.ring is None else RingSlotHeader.model_construct(
                ring_id=message.ring.ring_id, slot=message.ring.index, generation=message.ring.generation),
        )
        return [_header(frame), *message.buffers]
    if isinstance(message, Event):
        event = EventHeader.model_construct(
            event_id=message.event_id, camera_id=message.camera_id, seq=message.seq,
            captured_at=message.captured_at, location=_location(message.location),
            detections=[d.to_document() for d in message.detections],
            model=WireModel.model_construct(name=message.model.name, sha256=message.model.sha256),
            sample=message.sample, content_type=message.content_type, camera_health=message.camera_health,
        )
        return [_header(event), message.image]
    if isinstance(message, Ack):
        return [_header(AckHeader.model_construct(event_id=message.event_id, stored=message.stored,
                                                  reason=message.reason))]
    raise TypeError(f"not a smartcam message: {type(message).__name__}")


def _as_bytes(part: Any) -> bytes:
    if isinstance(part, bytes):
        return part
    if hasattr(part, "bytes"):  # zmq.Frame
        frame_bytes: bytes = part.bytes
        return frame_bytes
    return bytes(part)


def _as_buffer(part: Any) -> Any:
    return part.buffer if hasattr(part, "buffer") else part


def valid_id(value: object) -> bool:
    """Whether `value` is an id as the wire protocol allows it (`ID_PATTERN`)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _validated(model: type[H], header: dict[str, Any]) -> H:
    try:
        return model.model_validate(header)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] in ("bad_id", "bad_time"):
            kind = first["type"]
        elif first["type"] == "missing" and len(first["loc"]) == 1:
            kind = "missing_field"
        else:
            kind = "bad_field"
        raise WireError(kind, f"{where}: {first['msg']}"[:400]) from None


def _check_parts(described: list[ImagePartHeader], payloads: Sequence[Any] | None) -> list[ImagePart]:
    """The described parts, checked against their payloads (None: the pixels are in the ring, sized there)."""
    if (payloads is not None and len(described) != len(payloads)) or not described:
        count = "none (ring)" if payloads is None else len(payloads)
        raise WireError("payload_count", f"header describes {len(described)} parts, message has {count}")
    parts = []
    for index, item in enumerate(described):
        part = ImagePart(item.name, item.pixel_format, tuple(item.shape))
        channels = PIXEL_FORMATS.get(part.pixel_format)
        if channels is None:
            raise WireError("pixel_format", f"unknown pixel format {part.pixel_format[:64]!r}")
        expected_rank = 2 if channels == 1 else 3
        if len(part.shape) != expected_rank or any(v <= 0 for v in part.shape) or (
                expected_rank == 3 and part.shape[2] != channels):
            raise WireError("bad_field", f"shape {list(part.shape)[:8]} does not fit {part.pixel_format}")
        if payloads is None:
            parts.append(part)
            continue
        size = memoryview(_as_buffer(payloads[index])).nbytes
        if size != part.nbytes:
            raise WireError("payload_size", f"part {part.name[:64]!r} has {size} bytes, shape needs {part.nbytes}")
        parts.append(part)
    return parts


def _frame(frame: FrameHeader, payloads: Sequence[Any]) -> Frame:
    if frame.ring is not None and payloads:
        raise WireError("payload_count", f"a ring frame carries no payload, this one has {len(payloads)} parts")
    return Frame(
        camera_id=frame.camera_id, seq=frame.seq, captured_at=frame.captured_at,
        location=Location(frame.location.lat, frame.location.lon) if frame.location else None,
        parts=_check_parts(frame.parts, None if frame.ring else payloads),
        buffers=[_as_buffer(p) for p in payloads],
        ring=None if frame.ring is None else RingSlot(frame.ring.ring_id, frame.ring.slot, frame.ring.generation),
    )


def _fast_frame_header(raw_header: bytes) -> FrameHeader | None:
    """A frame header as `encode` writes it, parsed and validated in one pass (pydantic's JSON parser).

    About half the cost of json.loads + validation, on every frame. Anything else, or anything that
    fails here, returns None and takes the general path, which names the reject kind.
    """
    if not raw_header.startswith(_FRAME_PREFIX):
        return None
    try:
        return FrameHeader.model_validate_json(raw_header)
    except ValidationError:
        return None


def decode(parts: Sequence[Any]) -> Message:
    """Parse multipart frames (bytes or zmq.Frame) into a message, or raise WireError."""
    if not parts:
        raise WireError("empty", "message has no parts")
    raw_header = _as_bytes(parts[0])
    if len(raw_header) > MAX_HEADER_BYTES:
        raise WireError("header_too_large", f"header is {len(raw_header)} bytes")
    if (fast := _fast_frame_header(raw_header)) is not None:
        return _frame(fast, parts[1:])
    try:
        header = json.loads(raw_header)
    except (UnicodeDecodeError, ValueError) as error:
        raise WireError("foreign", "first part is not a JSON header") from error
    if not isinstance(header, dict) or MAGIC_KEY not in header:
        raise WireError("foreign", "header lacks the smartcam schema marker")
    if header[MAGIC_KEY] != SCHEMA_VERSION:
        newer = isinstance(header[MAGIC_KEY], int) and header[MAGIC_KEY] > SCHEMA_VERSION
        raise WireError("version", f"header version {header[MAGIC_KEY]!r:.20}, this build reads {SCHEMA_VERSION}"
                                   + ("; it was written by a newer smartcam: update this service" if newer else ""))
    payloads = parts[1:]
    message_type = header.get("type")
    if message_type == "frame_request":
        return FrameRequest()
    if message_type == "ack":
        ack = _validated(AckHeader, header)
        return Ack(ack.event_id, ack.stored, ack.reason)
    if message_type == "frame":
        return _frame(_validated(FrameHeader, header), payloads)
    if message_type == "event":
        if len(payloads) != 1:
            raise WireError("payload_count", f"event needs 1 image part, has {len(payloads)}")
        event = _validated(EventHeader, header)
        return Event(
            event_id=event.event_id, camera_id=event.camera_id, seq=event.seq, captured_at=event.captured_at,
            location=Location(event.location.lat, event.location.lon) if event.location else None,
            detections=[Detection(d.label, d.score, d.box, tuple(d.zones)) for d in event.detections],
            model=ModelRef(event.model.name, event.model.sha256), sample=event.sample,
            image=_as_bytes(payloads[0]), content_type=event.content_type, camera_health=event.camera_health,
        )
    raise WireError("unknown_type", f"message type {str(message_type)[:64]!r}")
