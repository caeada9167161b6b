"""Fit a frame of any size into the model's input tensor, and map boxes back to the frame.

Letterboxing keeps the aspect ratio (padding with black), so faces are not squashed, which would
make them look less like faces and make other things look more like them. Buffers are allocated
once and reused for every frame of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from smartcam.infer.manifest import InputSpec, MeanStdNormalisation, RangeNormalisation


@dataclass(frozen=True)
class Placement:
    """Where the frame sits inside the model input, in input pixels."""

    input_width: int
    input_height: int
    left: int
    top: int
    width: int
    height: int

    @classmethod
    def fit(cls, frame_width: int, frame_height: int, input_width: int, input_height: int,
            resize: str) -> Placement:
        """Stretch fills the input; letterbox scales to fit and centres the frame."""
        if resize == "stretch":
            return cls(input_width, input_height, 0, 0, input_width, input_height)
        scale = min(input_width / frame_width, input_height / frame_height)
        width = max(1, min(input_width, round(frame_width * scale)))
        height = max(1, min(input_height, round(frame_height * scale)))
        return cls(input_width, input_height, (input_width - width) // 2, (input_height - height) // 2,
                   width, height)

    def to_frame(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Boxes normalised to the model input -> boxes normalised to the frame, clipped to 0..1."""
        offset = np.array([self.left / self.input_width, self.top / self.input_height] * 2, np.float32)
        scale = np.array([self.width / self.input_width, self.height / self.input_height] * 2, np.float32)
        return np.clip((boxes - offset) / scale, 0.0, 1.0)


class InputWriter:
    """Turns an HxWx3 uint8 RGB frame into the model's input tensor, reusing its buffers."""

    def __init__(self, spec: InputSpec, dtype: type[np.generic]) -> None:
        self._spec = spec
        self._canvas = np.zeros((spec.height, spec.width, 3), np.uint8)
        self.tensor = np.zeros((1, spec.height, spec.width, 3), dtype)
        self._multiply, self._add = _linear_normalisation(spec)
        self._frame_size = (spec.width, spec.height)
        self._placement = Placement.fit(spec.width, spec.height, spec.width, spec.height, spec.resize)

    def write(self, frame: npt.NDArray[np.uint8]) -> Placement:
        """Fill `self.tensor` from `frame`; returns where the frame landed, to undo it for boxes."""
        height, width = frame.shape[:2]
        if self._frame_size != (width, height):
            self._frame_size = (width, height)
            self._placement = Placement.fit(width, height, self._spec.width, self._spec.height, self._spec.resize)
            self._canvas.fill(0)  # the padding must be black again if the frame size changed
        placement = self._placement
        if (width, height) == (placement.width, placement.height):
            resized = frame
        else:
            resized = np.asarray(Image.fromarray(frame).resize(
                (placement.width, placement.height), Image.Resampling.BILINEAR, reducing_gap=2.0))
        self._canvas[placement.top:placement.top + placement.height,
                     placement.left:placement.left + placement.width] = resized
        if self._multiply is None:
            self.tensor[0] = self._canvas
        else:
            np.multiply(self._canvas, self._multiply, out=self.tensor[0], casting="unsafe")
            self.tensor[0] += self._add
        return placement


def _linear_normalisation(spec: InputSpec) -> tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.float32] | None]:
    """Every supported normalisation is pixel * a + b per channel; None means raw pixels."""
    norm = spec.normalisation
    if isinstance(norm, RangeNormalisation):
        scale = (norm.high - norm.low) / 255.0
        return np.full(3, scale, np.float32), np.full(3, norm.low, np.float32)
    if isinstance(norm, MeanStdNormalisation):
        std = np.array(norm.std, np.float32)
        return 1.0 / std, -np.array(norm.mean, np.float32) / std
    return None, None
