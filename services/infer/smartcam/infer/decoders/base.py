"""What every decoder provides: turn a model's raw output tensors into boxes, scores and classes."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, ValidationError

from smartcam.infer.manifest import Manifest, describe_problems

TensorGetter = Callable[[int], npt.NDArray[Any]]


class DecoderMismatchError(ValueError):
    """The model's outputs or the manifest's decoder options do not fit this decoder."""


class DecoderOptions(BaseModel):
    """Base of each decoder's `decoder_options`; unknown keys are typos, so errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RawDetections:
    """Detections in model-input coordinates, before undoing the letterbox.

    `boxes` is (N, 4) float32 x0, y0, x1, y1 normalised to the model input; `classes` indexes the
    manifest's `labels`.
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    classes: npt.NDArray[np.int64]

    @classmethod
    def empty(cls) -> RawDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)


class Decoder(ABC):
    """Built once per model (checks happen then), called once per frame."""

    name: ClassVar[str]
    options_type: ClassVar[type[DecoderOptions]]

    def __init__(self, manifest: Manifest, output_details: Sequence[dict[str, Any]]) -> None:
        self.manifest = manifest
        try:
            self.options = self.options_type.model_validate(manifest.decoder_options)
        except ValidationError as error:
            raise DecoderMismatchError(describe_problems(error, prefix="decoder_options.")) from None
        self._output_indices = [int(detail["index"]) for detail in output_details]
        self._bind_outputs(output_details)

    @abstractmethod
    def _bind_outputs(self, output_details: Sequence[dict[str, Any]]) -> None:
        """Find this decoder's tensors among the model outputs, or raise DecoderMismatchError saying what differs."""

    def check_model(self, model_path: Path) -> None:  # noqa: B027 - most decoders have nothing to check
        """Check what the model file itself says (metadata) against the manifest; DecoderMismatchError if it differs."""

    @abstractmethod
    def decode(self, get_tensor: TensorGetter, max_detections: int) -> RawDetections:
        """Decode the outputs of the last `invoke()`: thresholded, suppressed, best first, at most `max_detections`.

        The caller passes the manifest's cap when serving; a model trial passes a higher one to see past it.
        """

    def written_outputs(self, get_tensor: TensorGetter) -> dict[int, npt.NDArray[Any]]:
        """Output index -> the part of it the last `invoke()` wrote, the only part a health check may judge.

        Most ops write every element. A decoder whose op fills only a prefix overrides this: the rest holds
        whatever the buffer held (on a new interpreter, uninitialised memory, now and then NaN).
        """
        return {index: get_tensor(index) for index in self._output_indices}


def describe_outputs(output_details: Sequence[dict[str, Any]]) -> str:
    """A short `name[shape]` list, for error messages."""
    return ", ".join(f"{d['name']}{list(d['shape'])}" for d in output_details)


def logit(probability: float) -> float:
    """The raw score a sigmoid turns into `probability`: thresholds compared before the sigmoid is applied."""
    probability = min(max(probability, 1e-7), 1 - 1e-7)
    return math.log(probability / (1 - probability))


def grid_centres(width: int, height: int, stride: int, offset: float) -> tuple[int, int, npt.NDArray[np.float64]]:
    """Rows, columns and cell centres (rows * cols, 2) as normalised x, y, row by row, of a feature map
    with this stride: the grid both anchor families (SSD and BlazeFace) place their anchors on."""
    rows, cols = math.ceil(height / stride), math.ceil(width / stride)
    ys = (np.arange(rows) + offset) / rows
    xs = (np.arange(cols) + offset) / cols
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return rows, cols, np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
