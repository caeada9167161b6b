"""Small parts several documents share, so each concept has one model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Event and camera ids: safe in HTTP headers, file names and log lines (the wire protocol enforces it).
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
# ISO-8601 in UTC with a Z suffix and millisecond precision (`smartcam.common.wire.format_time`).
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9.+-]{1,64}/[A-Za-z0-9.+-]{1,64}$"
# Zone names (infer's SMARTCAM_ZONES) reach JSON, logs and the demo sink's captions.
ZONE_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_ZONES = 32

ZoneName = Annotated[str, Field(pattern=ZONE_PATTERN, description="1-64 characters from A-Z a-z 0-9 . _ : -")]
SmartcamId = Annotated[str, Field(pattern=ID_PATTERN, description="1-128 characters from A-Z a-z 0-9 . _ : -")]
UtcTime = Annotated[str, Field(pattern=TIME_PATTERN, description="ISO-8601 UTC, millisecond precision, Z suffix")]
Fraction = Annotated[float, Field(allow_inf_nan=False)]


class Part(BaseModel):
    """A nested object: unknown fields are ignored, so a newer writer may add optional ones."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ModelIdentity(Part):
    """A detector model: its manifest name and the sha256 of its file."""

    name: str
    sha256: str


class Location(Part):
    """Degrees, WGS 84."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Detection(Part):
    label: str
    score: Fraction
    box: tuple[Fraction, Fraction, Fraction, Fraction] = Field(
        description="[x0, y0, x1, y1] normalised to 0-1 of the image")
    # Left out when empty, so a device without named zones sends exactly what the previous release sent.
    zones: list[ZoneName] = Field(
        default_factory=list, max_length=MAX_ZONES, exclude_if=lambda zones: not zones,
        description="Named zones (infer's SMARTCAM_ZONES) the object's bottom centre stands in; absent when none.")


class CameraHealthFigures(Part):
    """infer's measures of the frame that raised or cleared a camera condition (see README, Camera health)."""

    brightness: Fraction = Field(description="Mean brightness, 0 (black) to 1 (white).")
    sharpness: Fraction = Field(description="Variance of the Laplacian of a 160-pixel-wide grey image; low = blurred.")
    sharpness_reference: Fraction | None = Field(description="The same, of the reference scene; null before it "
                                                             "is kept.")
    change: Fraction | None = Field(description="Mean absolute change from the previous sample, grey levels "
                                                "(0-255); near 0 = frozen.")
    correlation: Fraction | None = Field(description="Correlation with the reference scene, -1 to 1; low = moved. "
                                                     "Null before the reference is kept.")


class CameraHealthReport(Part):
    """What a `camera_health` event is about: one condition, raised or cleared, and the figures that decided it."""

    condition: str = Field(pattern=r"^[a-z_]{1,32}$", description="`dark`, `frozen`, `blurred` or "
                                                                   "`scene_changed` (a later release may add more).")
    state: Literal["raised", "cleared"] = Field(description="`raised`: held SMARTCAM_CAMERA_HEALTH_AFTER_S; "
                                                            "`cleared`: gone as long.")
    figures: CameraHealthFigures
