"""`picamera2[:n]`: the Raspberry Pi camera through picamera2 (libcamera).

picamera2 is imported only when this source is chosen: it comes from Raspberry Pi OS's apt package
`python3-picamera2` and is importable only from Debian's python3 (the image's venv uses system site
packages). Pixel order quirk: picamera2's "RGB888" is B,G,R in memory (our BGR24) and "BGR888" is
R,G,B (our RGB24). GRAY8 uses a YUV420 stream and keeps its Y plane.

The lores stream is requested in the main stream's format; Pi 4 and older (VC4) accept only YUV for
lores, so there it falls back to YUV420 and the lores stream is delivered as GRAY8 (its Y plane),
which detection on a small grey image handles well and costs no conversion.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from smartcam.capture.imaging import y_plane
from smartcam.capture.sources.base import (
    LORES,
    MAIN,
    CapturedImages,
    SourceError,
    StreamConfig,
    StreamImage,
    stream_image,
)

# Our pixel format -> picamera2 format whose memory layout it is.
PICAMERA2_FORMAT = {"RGB24": "BGR888", "BGR24": "RGB888", "GRAY8": "YUV420"}
OUR_FORMAT = {"BGR888": "RGB24", "RGB888": "BGR24"}  # YUV420 becomes GRAY8 via its Y plane
YUV420 = "YUV420"
BUFFER_COUNT = 4  # frames are copied out by capture_arrays, so a few buffers suffice and save CMA memory
_LORES_MUST_BE_YUV = "lores stream must be YUV"
_FIX = "check the camera cable and that `rpicam-hello --list-cameras` sees it, or set SMARTCAM_SOURCE=replay:<folder>"

logger = logging.getLogger("smartcam.capture.picamera2")


def _import_picamera2() -> type[Any]:
    try:
        from picamera2 import Picamera2  # noqa: PLC0415  (only present on a Raspberry Pi)
    except ImportError as error:
        raise SourceError(
            f"SMARTCAM_SOURCE=picamera2 needs the picamera2 library ({error}); on Raspberry Pi OS install "
            "python3-picamera2 with apt and run with Debian's python3, or set SMARTCAM_SOURCE=replay:<folder>"
        ) from None
    camera_class: type[Any] = Picamera2  # picamera2 ships no type information
    return camera_class


class Picamera2Source:
    """Configures a video stream (main, optional lores) at `fps` and reads both from the same request."""

    def __init__(self, camera_number: int, config: StreamConfig, camera_class: type[Any] | None = None) -> None:
        """`camera_class` stands in for picamera2.Picamera2 where there is no camera (tests)."""
        self.description = f"picamera2 camera {camera_number}"
        self.on_demand = False  # the sensor runs at its own rate
        self._camera_number = camera_number
        self._config = config
        self._camera_class = camera_class
        self._camera: Any = None
        self._streams: dict[str, dict[str, Any]] = {}

    def _configuration(self, camera: Any, lores_format: str | None) -> dict[str, Any]:
        main: dict[str, Any] = {"format": PICAMERA2_FORMAT[self._config.pixel_format]}
        if self._config.frame_size is not None:
            main["size"] = self._config.frame_size
        lores = None if lores_format is None else {"size": self._config.lores_size, "format": lores_format}
        config: dict[str, Any] = camera.create_video_configuration(
            main=main, lores=lores, controls={"FrameRate": self._config.fps}, buffer_count=BUFFER_COUNT)
        camera.align_configuration(config)  # sizes the ISP handles efficiently; may adjust them slightly
        return config

    def _configure(self, camera: Any) -> dict[str, Any]:
        wanted_lores = None if self._config.lores_size is None else PICAMERA2_FORMAT[self._config.pixel_format]
        config = self._configuration(camera, wanted_lores)
        try:
            camera.configure(config)
        except RuntimeError as error:
            if wanted_lores is None or wanted_lores == YUV420 or _LORES_MUST_BE_YUV not in str(error):
                raise
            logger.info("this Pi's ISP allows only YUV for the lores stream; delivering lores as GRAY8 (Y plane)")
            config = self._configuration(camera, YUV420)
            camera.configure(config)
        return config

    def open(self) -> None:
        camera_class = self._camera_class or _import_picamera2()
        try:
            cameras = camera_class.global_camera_info()
            if self._camera_number >= len(cameras):
                raise SourceError(f"SMARTCAM_SOURCE=picamera2:{self._camera_number}: found {len(cameras)} "
                                  f"camera(s) (numbered from 0); {_FIX}")
            self._camera = camera_class(self._camera_number)
            config = self._configure(self._camera)
            self._camera.start()
        except (RuntimeError, OSError, IndexError, ValueError) as error:
            self.close()
            raise SourceError(f"SMARTCAM_SOURCE=picamera2:{self._camera_number}: libcamera could not start "
                              f"the camera ({error}); {_FIX}") from error
        self._streams = {name: config[name] for name in (MAIN, LORES) if config.get(name) is not None}
        sizes = ", ".join(f"{name} {s['size'][0]}x{s['size'][1]} {s['format']}" for name, s in self._streams.items())
        logger.info("camera %d started: %s at %.2f fps", self._camera_number, sizes, self._config.fps)

    def _convert(self, name: str, array: npt.NDArray[np.uint8]) -> StreamImage:
        stream = self._streams[name]
        if stream["format"] == YUV420:
            return stream_image(y_plane(array, stream["size"][0]), "GRAY8")
        return stream_image(array, OUR_FORMAT[stream["format"]])

    def due_in(self) -> float:
        return 0.0  # the camera paces itself: read() blocks until its next frame

    def read(self) -> CapturedImages:
        if self._camera is None:
            raise SourceError("the picamera2 source was read before open() or after close()")
        names = list(self._streams)
        try:
            arrays, _metadata = self._camera.capture_arrays(names)
        except (RuntimeError, OSError) as error:
            raise SourceError(f"{self.description} stopped delivering frames ({error}); {_FIX}") from error
        captured_at = datetime.now(UTC)
        streams = {name: self._convert(name, array) for name, array in zip(names, arrays, strict=True)}
        return CapturedImages(captured_at, streams)

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()
