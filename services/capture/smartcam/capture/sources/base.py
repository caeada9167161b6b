"""What every frame source delivers, and `open_source`, which picks one from SMARTCAM_SOURCE.

A source yields `CapturedImages`: always a `main` stream and, when configured, a smaller `lores`
stream, each a tightly packed uint8 array with its wire pixel format, plus the capture time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from smartcam.capture.specs import Picamera2Spec, ReplaySpec
from smartcam.common.counters import Counters
from smartcam.common.service import FatalError
from smartcam.common.wire import PIXEL_FORMATS, ImagePart

if TYPE_CHECKING:
    from smartcam.capture.settings import CaptureSettings

MAIN = "main"
LORES = "lores"


class SourceError(FatalError):
    """The source cannot deliver frames; the message names the setting or path and the fix."""


class StreamImage(NamedTuple):
    array: npt.NDArray[np.uint8]
    pixel_format: str


def stream_image(array: npt.NDArray[np.uint8], pixel_format: str) -> StreamImage:
    """Check and pack an array so it can go on the wire as is (C-contiguous uint8, HxWx3 or HxW)."""
    channels = PIXEL_FORMATS[pixel_format]
    expected_rank = 2 if channels == 1 else 3
    if array.dtype != np.uint8 or array.ndim != expected_rank or (channels > 1 and array.shape[2] != channels):
        raise ValueError(f"array {array.dtype} {array.shape} does not fit pixel format {pixel_format}")
    return StreamImage(np.ascontiguousarray(array), pixel_format)


@dataclass(frozen=True)
class CapturedImages:
    """One capture: named streams (main first) and when it was taken (UTC)."""

    captured_at: datetime
    streams: dict[str, StreamImage]

    def __post_init__(self) -> None:
        if next(iter(self.streams), None) != MAIN:
            raise ValueError(f"the first stream must be {MAIN!r}, got {list(self.streams)}")

    @property
    def main(self) -> StreamImage:
        return self.streams[MAIN]

    def image_parts(self) -> list[ImagePart]:
        """Wire descriptions of the streams, in the same order as `buffers()`."""
        return [ImagePart(name, image.pixel_format, tuple(image.array.shape)) for name, image in self.streams.items()]

    def buffers(self) -> list[npt.NDArray[np.uint8]]:
        """The stream arrays, ready to send without copying."""
        return [image.array for image in self.streams.values()]


@dataclass(frozen=True)
class StreamConfig:
    """What to capture, whatever the source: rate, sizes (None = native / no lores) and pixel format."""

    fps: float
    frame_size: tuple[int, int] | None
    lores_size: tuple[int, int] | None
    pixel_format: str

    @classmethod
    def from_settings(cls, settings: CaptureSettings) -> StreamConfig:
        return cls(settings.fps, settings.frame_size, settings.lores_size, settings.pixel_format)


class FrameSource(Protocol):
    """open() once, read() repeatedly (blocks until the next frame is due), close() at the end.

    `on_demand`: the source makes a frame only when a consumer waits for one (replay with
    SMARTCAM_REPLAY_ON_DEMAND); a camera makes frames at its own rate, taken or not.
    """

    description: str
    on_demand: bool

    def open(self) -> None: ...

    def due_in(self) -> float:
        """Seconds before read() would have a frame without waiting, for the caller to use meanwhile.

        0 when the source cannot tell (a camera paces itself, so read() blocks on the device).
        """

    def read(self) -> CapturedImages:
        """The next frame, returned when it is due (at once once `stop` is set: check it between reads)."""

    def close(self) -> None: ...


def open_source(settings: CaptureSettings, counters: Counters | None = None,
                stop: threading.Event | None = None) -> FrameSource:
    """Build and open the source SMARTCAM_SOURCE names; raises SourceError with the fix if it cannot.

    Skipped photos are counted in `counters`; `stop` lets a replay source's pacing wait end early at shutdown.
    """
    spec, config = settings.source_spec, StreamConfig.from_settings(settings)
    source: FrameSource
    if isinstance(spec, ReplaySpec):
        from smartcam.capture.sources.replay import ReplaySource  # noqa: PLC0415

        source = ReplaySource(spec.pattern, config, stop=stop, counters=counters,
                              on_demand=settings.replay_on_demand)
    elif isinstance(spec, Picamera2Spec):
        from smartcam.capture.sources.picamera2_source import Picamera2Source  # noqa: PLC0415

        source = Picamera2Source(spec.camera_number, config)
    else:  # pragma: no cover - parse_source only returns the specs above
        raise SourceError(f"SMARTCAM_SOURCE={settings.source!r} is not supported")
    source.open()
    return source
