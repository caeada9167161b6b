"""The JSON header (part 0) of every smartcam ZeroMQ message; `smartcam.common.wire` encodes and decodes with it.

`"smartcam": <version>` is the header's version and marker at once. Compatibility during a rolling
update (a capture, infer or uploader of the previous release talks to the new one): readers ignore
fields they do not know and fill the optional ones older senders leave out, so adding an optional
field keeps the version; anything an older reader would misread needs a new version, which that
reader then rejects (counted as `rejected.version`) instead of misreading.

Validation errors carry the wire protocol's stable reject kinds as their pydantic error type where
the kind is not simply `bad_field`: `bad_id` (ids) and `bad_time` (capture times).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from smartcam.common.contracts.parts import CONTENT_TYPE_PATTERN, CameraHealthReport, Detection, Location, Part

WIRE_VERSION: Final = 1
MAGIC_KEY = "smartcam"
ID_REGEX = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ID_RULE = "1-128 characters from A-Z a-z 0-9 . _ : -"
# Capture times outside this range are rejected: a camera's clock is never there, and far-off
# years overflow date arithmetic (9999-12-31T23:59:59-23:59 is past year 9999 in UTC).
TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix and millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire_id(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("bad_field", "an id must be a string, not {kind}", {"kind": type(value).__name__})
    if not ID_REGEX.fullmatch(value):
        raise PydanticCustomError("bad_id", "{value} is not {rule}", {"value": repr(value[:140]), "rule": ID_RULE})
    return value


def _wire_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("bad_field", "captured_at must be a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("bad_field", "captured_at {text} is not ISO-8601",
                                  {"text": repr(value[:64])}) from None
    if moment.tzinfo is None:
        raise PydanticCustomError("bad_field", "captured_at {text} has no time zone", {"text": repr(value[:64])})
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = TIME_MAX  # beyond the year 9999 in UTC: out of range below
    if not TIME_MIN <= moment < TIME_MAX:
        raise PydanticCustomError("bad_time", "captured_at {text} is outside {low}..{high} UTC; is the camera's clock "
                                              "set (NTP)?",
                                  {"text": repr(value[:64]), "low": TIME_MIN.year, "high": TIME_MAX.year - 1})
    return moment


WireId = Annotated[str, BeforeValidator(_wire_id)]
WireTime = Annotated[datetime, BeforeValidator(_wire_time), PlainSerializer(format_time, return_type=str)]


class Header(Part):
    smartcam: Literal[1] = WIRE_VERSION
    type: str


class FrameRequestHeader(Header):
    """infer -> capture: "send me the newest frame" (credit-based, latest frame wins)."""

    type: Literal["frame_request"] = "frame_request"


class ImagePartHeader(Part):
    """One payload part of a frame: which stream, its pixel format and shape (tightly packed uint8)."""

    name: str
    pixel_format: str
    shape: list[int]


class RingSlotHeader(Part):
    """Where a frame's pixels are in capture's shared-memory ring (`smartcam.common.ring`), instead of in parts."""

    ring_id: StrictInt = Field(ge=0)
    slot: StrictInt = Field(ge=0)
    generation: StrictInt = Field(ge=0)


class FrameHeader(Header):
    type: Literal["frame"] = "frame"
    camera_id: WireId
    seq: StrictInt
    captured_at: WireTime
    location: Location | None = None
    parts: list[ImagePartHeader]
    # Set when the pixels are in the ring: the message then has no payload parts (an older reader rejects it
    # as payload_count, counted, rather than misread it).
    ring: RingSlotHeader | None = None


class WireModel(Part):
    name: str = ""
    sha256: str = ""


class EventHeader(Header):
    type: Literal["event"] = "event"
    event_id: WireId
    camera_id: WireId
    seq: StrictInt
    captured_at: WireTime
    location: Location | None = None
    detections: list[Detection]
    model: WireModel
    sample: bool = False
    content_type: str = Field(default="image/jpeg", pattern=CONTENT_TYPE_PATTERN)
    camera_health: CameraHealthReport | None = None  # set on camera_health events only


class AckHeader(Header):
    type: Literal["ack"] = "ack"
    event_id: WireId
    stored: StrictBool
    reason: str | None = None


HEADERS: dict[str, type[Header]] = {"frame_request": FrameRequestHeader, "frame": FrameHeader,
                                     "event": EventHeader, "ack": AckHeader}
