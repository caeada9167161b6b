"""Small pixel helpers shared by the sources: fitting a size, and turning images into wire pixel formats."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

_PIL_MODE = {"RGB24": "RGB", "BGR24": "RGB", "GRAY8": "L"}


def fit_within(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest (width, height) with `size`'s aspect ratio that fits in `box` (scaling up or down)."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_pixel_format(image: Image.Image, pixel_format: str) -> npt.NDArray[np.uint8]:
    """A tightly packed uint8 array of `image` in one of the wire pixel formats."""
    array = np.asarray(image.convert(_PIL_MODE[pixel_format]), dtype=np.uint8)
    if pixel_format == "BGR24":
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


def y_plane(yuv420: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """The luma (Y) plane of a picamera2 YUV420 array as a GRAY8 image.

    picamera2 returns YUV420 as one (height * 3/2) x stride array: `height` rows of Y, then the
    quarter-size U and V planes; rows may carry padding beyond `width`.
    """
    height = yuv420.shape[0] * 2 // 3
    return np.ascontiguousarray(yuv420[:height, :width])
