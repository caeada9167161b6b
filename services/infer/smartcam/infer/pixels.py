"""Turn a received frame stream into the RGB array the detector and the JPEG encoder expect."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smartcam.common.wire import Frame


def stream_as_rgb(frame: Frame, name: str) -> npt.NDArray[np.uint8]:
    """The named stream as HxWx3 uint8 RGB; copies only when the pixel format needs converting."""
    part = next(p for p in frame.parts if p.name == name)
    pixels = frame.image(name)
    if part.pixel_format == "RGB24":
        return pixels
    if part.pixel_format == "BGR24":
        return np.ascontiguousarray(pixels[..., ::-1])
    if part.pixel_format == "GRAY8":
        return np.repeat(pixels[..., np.newaxis], 3, axis=2)
    raise ValueError(f"unsupported pixel format {part.pixel_format!r}")


def detection_stream(frame: Frame) -> str:
    """Detect on the low-resolution stream when capture provides one (boxes are normalised anyway)."""
    return "lores" if frame.has_stream("lores") else frame.parts[0].name
