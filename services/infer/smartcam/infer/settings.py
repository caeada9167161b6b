"""The infer service's settings (SMARTCAM_* variables), validated once at start-up.

`SMARTCAM_DETECT_LABELS` lists the labels of interest with their minimum scores, `label:score`
separated by commas (default: people and traffic, for the default COCO model). `SMARTCAM_BLUR_LABELS`
lists labels of the main model to pixelate before upload, separated by commas (default `face`; empty
turns it off); faces are pixelated anyway by the privacy stage (`SMARTCAM_PRIVACY_FACES`).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from smartcam.common.settings import CommonSettings, ZmqEndpoint
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


class InferSettings(CommonSettings):
    """Variables are SMARTCAM_<FIELD>."""

    model_dir: Path = Field(
        Path("/opt/smartcam/models/efficientdet-lite0-coco"),
        description="Main detector: folder with manifest.json and the model file (default: the COCO object "
        "detector; /opt/smartcam/models/blazeface-short-range is the face model)")
    inference_threads: int = Field(default=0, ge=0, le=16)  # 0 = the runtime's default
    detect_labels: str = Field(
        DEFAULT_DETECT_LABELS,
        description="Labels of interest with minimum scores, `label:score,...` (the face model's label is `face`)")
    cooldown_s: float = Field(default=60.0, ge=0.0, le=86400.0)
    baseline_every_n: int = Field(default=0, ge=0)
    blur_labels: str = "face"
    blur_margin: float = Field(default=DEFAULT_MARGIN, ge=0.0, le=2.0)
    privacy_faces: bool = Field(
        True, description="Pixelate faces in every uploaded JPEG whatever the main model is: when it does not "
        "detect faces itself, the face model in SMARTCAM_PRIVACY_MODEL_DIR runs on each frame about to be uploaded")
    privacy_model_dir: Path = Field(
        Path("/opt/smartcam/models/blazeface-short-range"),
        description="Face model of the privacy stage (folder with manifest.json); if it does not load, infer "
        "uploads no image at all rather than unblurred ones")
    privacy_min_score: float = Field(
        0.5, ge=0.0, le=1.0, description="Faces the privacy stage's face model finds at or above this score are "
        "pixelated (lower blurs more; the face model reports nothing under its manifest's score threshold)")
    ignore_zones: str = Field(
        "", description="Polygons where detections are dropped (by the bottom centre of the box): `x,y x,y x,y` "
        "in 0-1 of the image, polygons separated by `;`; empty = none")
    zones: str = Field(
        "", description="Named zones carried in each detection (`zones: [...]`) the object stands in: "
        "`name=x,y x,y x,y; name2=...` in 0-1 of the image; empty = none")
    privacy_masks: str = Field(
        "", description="Polygons filled black in every uploaded JPEG before encoding, `x,y x,y x,y` in 0-1 of the "
        "image, separated by `;`; empty = none")
    jpeg_quality: int = Field(default=85, ge=1, le=95)
    jpeg_max_size: int = Field(default=0, ge=0, le=16384)
    frames_endpoint: ZmqEndpoint = "tcp://capture:5555"
    events_endpoint: ZmqEndpoint = "tcp://uploader:5556"
    max_unacked_events: int = Field(default=200, ge=1, le=100000)
    ack_timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    # Model hot switching: models the updater verified and offers (read-only volume); absent = off.
    model_store_dir: Path = Path("/var/lib/smartcam/models")
    # infer's only writable state: its active model and its verdict on each offered model.
    model_state_dir: Path = Path("/var/lib/smartcam/infer-state")
    model_check_interval_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    # A model trial runs the candidate on this many recent frames (one a second) next to the serving model.
    trial_frames: int = Field(default=8, ge=1, le=64)
    # A candidate finding more objects than this on one trial picture fires everywhere: rejected.
    trial_max_detections: int = Field(default=50, ge=1, le=1000)
    # Share of the serving model's detections of interest the candidate must also find (IoU >= 0.3); 0 = off.
    trial_min_recall: float = Field(default=0.5, ge=0.0, le=1.0)

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
        return parse_label_scores(self.detect_labels)

    @property
    def zone_rules(self) -> Zones:
        """Ignore zones, named zones and privacy masks, parsed from their settings."""
        return Zones(ignore=parse_polygons(self.ignore_zones, "SMARTCAM_IGNORE_ZONES", named=False),
                     named=parse_polygons(self.zones, "SMARTCAM_ZONES", named=True),
                     masks=parse_polygons(self.privacy_masks, "SMARTCAM_PRIVACY_MASKS", named=False))

    @property
    def blurred_labels(self) -> frozenset[str]:
        """Labels to pixelate before upload, parsed from `blur_labels` (empty: blurring off)."""
        return parse_label_list(self.blur_labels)
