"""What leaves the device: configured labels (faces by default) pixelated, then a JPEG.

Blurring happens on the full frame before any downscale or encoding, so no un-blurred copy is ever
encoded. Pixelation averages each block down to one colour: the detail is gone, not hidden behind a
filter a deconvolution could partly undo.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from smartcam.common.wire import Detection

BLOCKS_ACROSS = 6  # a face pixelated to ~6 blocks across is unrecognisable
DEFAULT_MARGIN = 0.25  # of the box size, on each side: boxes are tight and hair/ears identify too


def pixel_box(box: tuple[float, float, float, float], width: int, height: int, margin: float) -> tuple[int, ...]:
    """A normalised box grown by `margin` on each side, in whole pixels clipped to the image."""
    x0, y0, x1, y1 = box
    grow_x, grow_y = (x1 - x0) * margin, (y1 - y0) * margin
    return (
        max(0, int(np.floor((x0 - grow_x) * width))),
        max(0, int(np.floor((y0 - grow_y) * height))),
        min(width, int(np.ceil((x1 + grow_x) * width))),
        min(height, int(np.ceil((y1 + grow_y) * height))),
    )


def pixelate(region: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Average the region into about BLOCKS_ACROSS blocks along its longer side."""
    height, width = region.shape[:2]
    block = max(1, int(np.ceil(max(width, height) / BLOCKS_ACROSS)))
    small = Image.fromarray(region).resize(
        (max(1, int(np.ceil(width / block))), max(1, int(np.ceil(height / block)))), Image.Resampling.BOX)
    return np.asarray(small.resize((width, height), Image.Resampling.NEAREST))


def blur_labels(frame: npt.NDArray[np.uint8], detections: Sequence[Detection], labels: Collection[str],
                margin: float = DEFAULT_MARGIN) -> npt.NDArray[np.uint8]:
    """A copy of `frame` with every detection of `labels` pixelated; `frame` itself (maybe read-only) is untouched."""
    targets = [d for d in detections if d.label in labels]
    if not targets:
        return frame
    result = frame.copy()
    height, width = frame.shape[:2]
    for detection in targets:
        x0, y0, x1, y1 = pixel_box(detection.box, width, height, margin)
        if x1 > x0 and y1 > y0:
            result[y0:y1, x0:x1] = pixelate(result[y0:y1, x0:x1])
    return result


def fill_boxes(frame: npt.NDArray[np.uint8], detections: Sequence[Detection],
               margin: float = DEFAULT_MARGIN) -> npt.NDArray[np.uint8]:
    """A copy of `frame` with each detection's box (grown by `margin`) filled with its mean colour."""
    if not detections:
        return frame
    result = frame.copy()
    height, width = frame.shape[:2]
    for detection in detections:
        x0, y0, x1, y1 = pixel_box(detection.box, width, height, margin)
        if x1 > x0 and y1 > y0:
            region = result[y0:y1, x0:x1]
            region[...] = region.reshape(-1, region.shape[-1]).mean(axis=0).astype(np.uint8)
    return result


def encode_jpeg(frame: npt.NDArray[np.uint8], quality: int, max_size: int = 0) -> bytes:
    """JPEG bytes of an HxWx3 RGB frame, downscaled first so its longer side is at most `max_size` (0 = keep)."""
    image = Image.fromarray(frame)
    if max_size and max(image.size) > max_size:
        image.thumbnail((max_size, max_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def redact_and_encode(frame: npt.NDArray[np.uint8], detections: Sequence[Detection], blurred_labels: Collection[str], *,
                      quality: int, max_size: int = 0, margin: float = DEFAULT_MARGIN) -> bytes:
    """The upload image: blur first, then downscale and encode."""
    return encode_jpeg(blur_labels(frame, detections, blurred_labels, margin), quality, max_size)
