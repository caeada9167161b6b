"""Request bodies for the three payload formats, all built from one stored description.

`describe(event)` is what the queue keeps next to the JPEG; every format is derived from it,
so the formats cannot drift apart. Each body is built with its model in
`smartcam.common.contracts.event`, from which `docs/schemas/` is generated for target implementers.
Each request also carries `Idempotency-Key: <event_id>` (see `delivery`), so a retried upload is
recognisable to the server.

- `json` (default): one JSON object with exactly the fields of `EventBody`; the image is
  `{"content_type", "data"}` with `data` base64; `camera_health` only on camera-health events.
- `multipart`: `multipart/form-data` with a `metadata` part (the same JSON, its `image` holding
  only `content_type`) and an `image` part with the raw JPEG.
- `legacy`: the older devices' body `{"photo", "time", "location", "filename"}`.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from urllib3 import encode_multipart_formdata
from urllib3.fields import RequestField

from smartcam.common.contracts.event import EventBody, EventMetadata, ImageType, InlineImage, LegacyEventBody
from smartcam.common.contracts.parts import ModelIdentity
from smartcam.common.wire import Event, format_time
from smartcam.uploader.settings import PayloadFormat

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class RequestBody:
    content: bytes
    content_type: str


def describe(event: Event) -> dict[str, Any]:
    """The event's JSON description without the image bytes (those are stored as a file): `EventMetadata`.

    Not validated here: whatever was stored is validated when a body is built from it, where a bad one
    becomes a dead letter with its reason instead of refusing the event.
    """
    return EventMetadata.model_construct(
        event_id=event.event_id,
        camera_id=event.camera_id,
        captured_at=format_time(event.captured_at),
        location=event.location.to_document() if event.location else None,
        detections=[detection.to_document() for detection in event.detections],
        model=ModelIdentity.model_construct(name=event.model.name, sha256=event.model.sha256),
        image=ImageType.model_construct(content_type=event.content_type),
        sample=event.sample,
        camera_health=event.camera_health,
    ).model_dump(mode="json")


def build(payload_format: PayloadFormat, description: dict[str, Any], image: bytes) -> RequestBody:
    """The request body for one event in the configured format."""
    if payload_format is PayloadFormat.JSON:
        return _json_body(json_document(description, image))
    if payload_format is PayloadFormat.MULTIPART:
        return multipart_body(description, image)
    return _json_body(legacy_document(description, image))


def json_document(description: dict[str, Any], image: bytes) -> dict[str, Any]:
    metadata = EventMetadata.model_validate(description)
    image_part = InlineImage(content_type=metadata.image.content_type, data=_base64(image))
    return EventBody.model_validate({**dict(metadata), "image": image_part}).model_dump(mode="json")


def multipart_body(description: dict[str, Any], image: bytes) -> RequestBody:
    metadata = EventMetadata.model_validate(description)
    metadata_part = RequestField("metadata", json.dumps(metadata.model_dump(mode="json"), separators=(",", ":")))
    metadata_part.make_multipart(content_type="application/json")  # a field, not a file
    content, form_type = encode_multipart_formdata([
        metadata_part,
        ("image", (file_name(description), image, metadata.image.content_type)),
    ])
    return RequestBody(content, form_type)


def legacy_document(description: dict[str, Any], image: bytes) -> dict[str, Any]:
    """The older devices' format.

    `time` is the capture time (ISO-8601 UTC, like `captured_at`); `location` is `{lat, lon}` or
    null; `filename` is `<camera_id>_<capture time, compact UTC>.jpg`, unique per camera and sortable.
    """
    metadata = EventMetadata.model_validate(description)
    return LegacyEventBody(photo=_base64(image), time=metadata.captured_at, location=metadata.location,
                           filename=file_name(description)).model_dump(mode="json")


def file_name(description: dict[str, Any]) -> str:
    moment = datetime.fromisoformat(description["captured_at"].replace("Z", "+00:00"))
    camera = _UNSAFE_IN_FILE_NAME.sub("-", description["camera_id"]).strip("-") or "camera"
    return f"{camera}_{moment.strftime('%Y%m%dT%H%M%S')}.{moment.microsecond // 1000:03d}Z.jpg"


def _json_body(document: dict[str, Any]) -> RequestBody:
    return RequestBody(json.dumps(document, separators=(",", ":")).encode(), "application/json")


def _base64(image: bytes) -> str:
    return base64.b64encode(image).decode("ascii")
