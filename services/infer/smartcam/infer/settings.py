"""The infer service's settings (SMARTCAM_* variables), validated once at start-up.

`SMARTCAM_DETECT_LABELS` lists the labels of interest with their minimum scores, `label:score`
separated by commas (default: people and traffic, for the default COCO model). `SMARTCAM_BLUR_LABELS`
lists labels of the main model to pixelate before upload, separated by commas (default `face`; empty
turns it off); faces are pixelated anyway by the privacy stage (`SMARTCAM_PRIVACY_FACES`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from smartcam.common.settings import (
    EVENTS_ENDPOINT_DESCRIPTION,
    FRAMES_ENDPOINT_DESCRIPTION,
    FrameRingSettings,
    ModelExchangeSettings,
    PipelineKeySettings,
    Scope,
    StatusDirSettings,
    ZmqEndpoint,
    scope,
)
from smartcam.infer.privacy import DEFAULT_MARGIN
from smartcam.infer.zones import Zones, parse_polygons

# What a smart camera on a road or a path is for: people and traffic (COCO labels of the default model).
DEFAULT_DETECT_LABELS = "person:0.5,bicycle:0.5,car:0.5,motorcycle:0.5,bus:0.5,truck:0.5"

# A label is what the model's label map says ("face", "traffic light"); a score is a plain decimal.
_LABEL_SCORE = re.compile(r"(?P<label>[\w][\w ./-]*?)\s*:\s*(?P<score>\d+(?:\.\d*)?|\.\d+)")


def parse_label_scores(text: str) -> dict[str, float]:
    """`face:0.7, person:0.5` -> {"face": 0.7, "person": 0.5}; ValueError says what is wrong."""
    scores: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _LABEL_SCORE.fullmatch(item)
        if match is None or not 0.0 <= float(match["score"]) <= 1.0:
            raise ValueError(f"{item!r} is not label:score with a score from 0 to 1; write e.g. face:0.7,person:0.5")
        label, score = match["label"], float(match["score"])
        if label in scores:
            raise ValueError(f"label {label!r} is listed twice; list each label once")
        scores[label] = score
    if not scores:
        raise ValueError("no labels of interest; list at least one, e.g. face:0.7")
    return scores


def parse_label_list(text: str) -> frozenset[str]:
    """`face, person` -> {"face", "person"}; empty text -> no labels."""
    return frozenset(filter(None, (part.strip() for part in text.split(","))))


class InferSettings(ModelExchangeSettings, FrameRingSettings, StatusDirSettings, PipelineKeySettings):
    """Variables are SMARTCAM_<FIELD>."""

    model_dir: Path = Field(Path("/opt/smartcam/models/efficientdet-lite0-coco"),
                            description="Main detector: folder with `manifest.json` and the model file (default: the "
                                        "COCO object detector; `/opt/smartcam/models/blazeface-short-range` is the "
                                        "face model).")
    inference_threads: int = Field(0, ge=0, le=16, description="Interpreter threads; `0` = the runtime's default.")
    detect_labels: str = Field(DEFAULT_DETECT_LABELS,
                               description="Labels of interest with minimum scores, `label:score,...` (the face "
                                           "model's label is `face`).")
    cooldown_s: float = Field(30.0, ge=0.0, le=86400.0,
                              description="Per label: no repeat event within this time unless more objects of "
                                          "that label appear.")
    baseline_every_n: int = Field(0, ge=0, description="Also upload every Nth frame as a baseline sample "
                                                       "(`sample: true`); `0` = off.")
    blur_labels: str = Field("face", description="Labels of the main model pixelated before the JPEG leaves the "
                                                 "device (e.g. `person` for a privacy-strict site), comma-separated; "
                                                 "empty = off (faces are pixelated anyway, SMARTCAM_PRIVACY_FACES).")
    blur_margin: float = Field(DEFAULT_MARGIN, ge=0.0, le=2.0,
                               description="Margin around blurred boxes, as a fraction of the box per side.")
    privacy_faces: bool = Field(
        True, description="Pixelate faces in every uploaded JPEG whatever the main model is: when it does not detect "
                          "faces itself, the face model in SMARTCAM_PRIVACY_MODEL_DIR runs on each frame about to be "
                          "uploaded.")
    privacy_model_dir: Path = Field(
        Path("/opt/smartcam/models/blazeface-short-range"),
        description="Face model of the privacy stage (folder with `manifest.json`); if it does not load, infer "
                    "uploads no image at all rather than unblurred ones.")
    privacy_min_score: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Faces the privacy stage's face model finds at or above this score are pixelated (lower blurs "
                    "more; the face model reports nothing under its manifest's score threshold).")
    ignore_zones: str = Field(
        "", description="Polygons where detections are dropped (by the bottom centre of the box): `x,y x,y x,y` in "
                        "0-1 of the image, polygons separated by `;`; empty = none.")
    zones: str = Field(
        "", description="Named zones carried in each detection (`zones: [...]`) the object stands in: "
                        "`name=x,y x,y x,y; name2=...` in 0-1 of the image; empty = none.")
    privacy_masks: str = Field(
        "", description="Polygons filled black in every uploaded JPEG before encoding, `x,y x,y x,y` in 0-1 of the "
                        "image, separated by `;`; empty = none.")
    jpeg_quality: int = Field(85, ge=1, le=95, description="JPEG quality of uploaded images, 1 to 95.")
    jpeg_max_size: int = Field(0, ge=0, le=16384, description="Longest side of uploaded JPEGs in pixels; "
                                                              "`0` = full size.")
    frames_endpoint: ZmqEndpoint = Field("tcp://capture:5555", json_schema_extra=scope(Scope.WIRED),
                                         description=FRAMES_ENDPOINT_DESCRIPTION)
    events_endpoint: ZmqEndpoint = Field("tcp://uploader:5556", json_schema_extra=scope(Scope.WIRED),
                                         description=EVENTS_ENDPOINT_DESCRIPTION)
    max_unacked_events: int = Field(200, ge=1, le=100000,
                                    description="Events infer holds until the uploader acknowledges them; beyond, "
                                                "the oldest is given up and counted.")
    ack_timeout_s: float = Field(10.0, gt=0.0, le=3600.0,
                                 description="Resend an unacknowledged event after this long.")
    model_check_interval_s: float = Field(5.0, gt=0.0, le=3600.0,
                                          description="How often infer looks for a model offered by the updater.")
    trial_frames: int = Field(8, ge=1, le=64,
                              description="Recent frames (one a second, longest side ≤ 640 px) an offered model "
                                          "is tried on next to the serving one, 1 to 64.")
    trial_max_detections: int = Field(50, ge=1, le=1000,
                                      description="An offered model finding more objects than this on one trial "
                                                  "picture is rejected (counted past its manifest's cap).")
    trial_min_recall: float = Field(0.5, ge=0.0, le=1.0,
                                    description="Share of the serving model's detections of interest an offered "
                                                "model must also find (same label, IoU ≥ 0.3); `0` = off.")

    camera_health_after_s: float = Field(
        60.0, ge=0.0, le=86400.0,
        description="A camera condition (dark, frozen, blurred, scene_changed) held this long raises one "
                    "`camera_health` event, and gone this long clears it; `0` = camera health off.")
    camera_health_reference_s: float = Field(
        3600.0, gt=0.0, le=604800.0,
        description="Healthy operation the reference scenes and sharpness are kept from (blurred and scene_changed "
                    "compare with them).")
    camera_health_dark_below: float = Field(
        0.08, ge=0.0, le=1.0, description="Mean brightness (0-1) under which the camera counts as dark or covered.")
    camera_health_blur_ratio: float = Field(
        0.3, ge=0.0, le=1.0,
        description="Sharpness under this share of the reference's counts as blurred (fog, dirt, lost focus).")
    camera_health_scene_min_correlation: float = Field(
        0.5, ge=-1.0, le=1.0,
        description="Correlation with every reference scene under which the camera counts as moved (-1 to 1).")

    _min_scores: dict[str, float] = PrivateAttr()
    _blurred_labels: frozenset[str] = PrivateAttr()
    _zone_rules: Zones = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Parse the label lists and polygons once; the validators below already proved they parse."""
        self._min_scores = parse_label_scores(self.detect_labels)
        self._blurred_labels = parse_label_list(self.blur_labels)
        self._zone_rules = Zones(ignore=parse_polygons(self.ignore_zones, "SMARTCAM_IGNORE_ZONES", named=False),
                                 named=parse_polygons(self.zones, "SMARTCAM_ZONES", named=True),
                                 masks=parse_polygons(self.privacy_masks, "SMARTCAM_PRIVACY_MASKS", named=False))

    @field_validator("detect_labels")
    @classmethod
    def _label_scores(cls, value: str) -> str:
        parse_label_scores(value)
        return value

    @field_validator("ignore_zones", "zones", "privacy_masks")
    @classmethod
    def _polygons(cls, value: str, info: ValidationInfo) -> str:
        parse_polygons(value, f"SMARTCAM_{str(info.field_name).upper()}", named=info.field_name == "zones")
        return value

    @field_validator("jpeg_max_size")
    @classmethod
    def _usable_size(cls, value: int) -> int:
        if 0 < value < 64:
            raise ValueError("too small to show anything; use 0 (no downscale) or at least 64 pixels")
        return value

    @property
    def min_scores(self) -> dict[str, float]:
        """Labels of interest and their minimum scores, parsed from `detect_labels`."""
        return dict(self._min_scores)

    @property
    def zone_rules(self) -> Zones:
        """Ignore zones, named zones and privacy masks, parsed from their settings."""
        return self._zone_rules

    @property
    def blurred_labels(self) -> frozenset[str]:
        """Labels to pixelate before upload, parsed from `blur_labels` (empty: blurring off)."""
        return self._blurred_labels
