"""`manifest.json`: everything needed to use a model file, kept next to it.

A model is only usable with the right pre-processing (size, normalisation, resize mode) and
post-processing (decoder, labels, thresholds). Keeping those facts in a small typed file next to the
model lets the updater ship a new model without a new image, and lets loading fail early and clearly.

Example (the default model)::

    {
      "name": "blazeface-short-range",
      "model_file": "model.tflite",
      "sha256": "3bc1...",
      "size_bytes": 229032,
      "decoder": "blazeface",
      "input": {"width": 128, "height": 128, "resize": "letterbox",
                "normalisation": {"kind": "range", "low": -1.0, "high": 1.0}},
      "labels": ["face"],
      "thresholds": {"score": 0.5, "nms_iou": 0.3, "max_detections": 20},
      "decoder_options": {"strides": [8, 16, 16, 16], "anchor_offset": 0.5}
    }
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartcam.infer.errors import ModelError

MANIFEST_NAME = "manifest.json"


class _Strict(BaseModel):
    """Unknown keys are typos, so they are errors rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeNormalisation(_Strict):
    """Pixels 0..255 mapped linearly onto low..high (BlazeFace: -1..1)."""

    kind: Literal["range"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> RangeNormalisation:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        return self


class MeanStdNormalisation(_Strict):
    """(pixel - mean) / std per RGB channel, mean and std in pixel units (0..255)."""

    kind: Literal["mean_std"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @field_validator("std")
    @classmethod
    def _positive(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0:
            raise ValueError("every std value must be greater than 0")
        return value


class RawNormalisation(_Strict):
    """Raw uint8 pixels, as quantised models expect."""

    kind: Literal["raw"]


Normalisation = Annotated[RangeNormalisation | MeanStdNormalisation | RawNormalisation, Field(discriminator="kind")]


class InputSpec(_Strict):
    width: int = Field(gt=0, le=4096)
    height: int = Field(gt=0, le=4096)
    resize: Literal["letterbox", "stretch"] = "letterbox"
    normalisation: Normalisation


class Thresholds(_Strict):
    score: float = Field(ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.3, gt=0.0, le=1.0)
    max_detections: int = Field(default=20, gt=0, le=1000)


class Manifest(_Strict):
    name: str = Field(min_length=1, max_length=128)
    model_file: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = Field(default=None, gt=0)  # lets a truncated copy be told apart from a wrong file
    decoder: str
    input: InputSpec
    labels: list[str] = Field(default_factory=list)
    # "embedded": the labels are the `labels.txt` inside the .tflite (a TFLite file with metadata is also a zip).
    labels_from: Literal["manifest", "embedded"] = "manifest"
    thresholds: Thresholds
    decoder_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_given_once(self) -> Manifest:
        if self.labels_from == "manifest" and not self.labels:
            raise ValueError('labels is empty: list the label of each class, or set "labels_from": "embedded"')
        if self.labels_from == "embedded" and self.labels:
            raise ValueError('labels and "labels_from": "embedded" both given; keep one of them')
        return self

    @field_validator("model_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError(f"{value!r} must be a plain file name in the model directory, not a path")
        return value


def load_manifest(model_dir: Path) -> Manifest:
    """Read and validate `model_dir/manifest.json`, or raise ModelError naming the file and field."""
    path = model_dir / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(
            f"model manifest {path} is missing: every model directory needs a {MANIFEST_NAME} "
            "(see services/infer/models/blazeface-short-range/manifest.json), or point SMARTCAM_MODEL_DIR "
            "at a directory that has one"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"model manifest {path} cannot be read ({error}); replace it with a UTF-8 JSON file") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ModelError(f"model manifest {path} is not valid JSON ({error}); fix the syntax") from None
    try:
        return Manifest.model_validate(document)
    except ValidationError as error:
        problems = describe_problems(error)
        raise ModelError(f"model manifest {path} is invalid: {problems}; correct these fields") from None


def describe_problems(error: ValidationError, prefix: str = "") -> str:
    """One `field a.b: what is wrong` clause per problem, joined with '; '."""
    return "; ".join(
        f"field {prefix}{'.'.join(str(part) for part in item['loc']) or '(top level)'}: "
        f"{str(item['msg']).removeprefix('Value error, ')}"
        for item in error.errors()
    )
