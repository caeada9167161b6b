"""What an offered model is tried on: the last few frames infer processed, else photos shipped in the image.

Real frames show what this camera sees, so a model blind to it is caught before it serves. The ring
keeps one frame per `spacing_s` (a varied scene, not 8 copies of one instant, and one copy a second
instead of one per frame), shrunk so its longest side is at most `MAX_SIDE` (memory stays bounded
whatever the camera's resolution: 8 frames take at most ~8 MiB).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from smartcam.common.wire import Frame
from smartcam.infer.pixels import detection_stream, stream_as_rgb

MAX_SIDE = 640  # pixels; larger than the input of the models infer runs, small enough to keep 8 of
TRIAL_PHOTOS_DIR = Path(__file__).with_name("trial_photos")


@dataclass(frozen=True)
class Sample:
    name: str  # "frame 17" or "photo grace_hopper.jpg", for messages
    pixels: npt.NDArray[np.uint8]  # HxWx3 uint8 RGB, never written to


class RecentFrames:
    """A ring of the last `size` frames infer processed (their detection stream), one per `spacing_s`."""

    def __init__(self, size: int, spacing_s: float = 1.0) -> None:
        self._ring: deque[Sample] = deque(maxlen=size)
        self._spacing_s = spacing_s
        self._last_kept = -math.inf

    def add(self, frame: Frame) -> None:
        now = time.monotonic()
        if now - self._last_kept < self._spacing_s:
            return
        try:
            pixels = stream_as_rgb(frame, detection_stream(frame))
        except ValueError:  # the frame loop reports unusable frames; a trial simply does without them
            return
        self._ring.append(Sample(f"frame {frame.seq}", shrink(pixels)))
        self._last_kept = now

    def snapshot(self) -> list[Sample]:
        """The kept frames, oldest first; safe to hand to another thread (the arrays are never written)."""
        return list(self._ring)


def shrink(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A private copy with the longest side at most MAX_SIDE (box filter by an integer factor)."""
    factor = math.ceil(max(pixels.shape[:2]) / MAX_SIDE)
    if factor <= 1:
        return np.array(pixels, copy=True)
    return np.asarray(Image.fromarray(pixels).reduce(factor))


def embedded_photos(folder: Path = TRIAL_PHOTOS_DIR) -> list[Sample]:
    """The photos shipped with infer, for a trial before any frame arrived."""
    samples = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            samples.append(Sample(f"photo {path.name}", shrink(np.asarray(image.convert("RGB")))))
    return samples
