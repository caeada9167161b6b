"""The event as the uploader sends it to the target, in each payload format (`SMARTCAM_PAYLOAD_FORMAT`).

These models are the published contract with target implementers (`docs/schemas/`, generated from them by
`scripts/sync-schemas`). The bodies carry no `version` field: the README promises targets exactly these
fields, and a strict target would refuse an event with one more (a dead letter), so their version is the
schema's; a change a target could misread gets new schema files, never a silent change of these. The one
optional field, `camera_health`, is left out of every event but the camera-health events that need it
(like a detection's `zones`), so a detection or sample is byte for byte what the previous release sent.
"""

from __future__ import annotations

from pydantic import Field

from smartcam.common.contracts.parts import (
    CONTENT_TYPE_PATTERN,
    CameraHealthReport,
    Detection,
    Location,
    ModelIdentity,
    Part,
    SmartcamId,
    UtcTime,
)

EVENT_SCHEMA_VERSION = 1
# A camera-health event's first detection is labelled `camera_health:<condition>[_cleared]` (kept for targets
# built on the first release); infer writes it, the uploader's upload windows classify events by it.
CAMERA_HEALTH_LABEL_PREFIX = "camera_health:"


class ImageType(Part):
    content_type: str = Field(pattern=CONTENT_TYPE_PATTERN, description="Media type of the image, image/jpeg.")


class InlineImage(ImageType):
    data: str = Field(description="The image, base64; the configured labels (faces) already pixelated.")


class _EventFields(Part):
    event_id: SmartcamId = Field(description="Unique per event; also the Idempotency-Key header, the same on "
                                             "every resend.")
    camera_id: SmartcamId
    captured_at: UtcTime = Field(description="Capture time, 2000-01-01 up to (not including) 2100-01-01.")
    location: Location | None = Field(description="null without a GPS fix.")
    detections: list[Detection] = Field(description="Everything the model reported above its own threshold, "
                                                    "best first.")
    model: ModelIdentity = Field(description="The model that produced the detections.")
    # Only on camera_health events: every other event has exactly the fields the previous release sent.
    camera_health: CameraHealthReport | None = Field(
        default=None, exclude_if=lambda report: report is None,
        description="Present only on a `camera_health` event (the camera itself: dark, frozen, blurred, moved): "
                    "the condition raised or cleared and infer's figures. Absent from every other event.")


class EventBody(_EventFields):
    """`json` (the default): one JSON object."""

    image: InlineImage
    sample: bool = Field(description="true: a baseline sample sent regardless of detections (model monitoring).")


class EventMetadata(_EventFields):
    """`multipart`: the `metadata` part; the raw image is the `image` part."""

    image: ImageType
    sample: bool = Field(description="true: a baseline sample sent regardless of detections (model monitoring).")


class LegacyEventBody(Part):
    """`legacy`: the older devices' body."""

    photo: str = Field(description="The image, base64.")
    time: UtcTime = Field(description="Capture time.")
    location: Location | None
    filename: str = Field(description="<camera_id>_<YYYYmmddTHHMMSS.mmm>Z.jpg, unique per camera and sortable.")
