"""The capture service's settings (SMARTCAM_* variables), validated once at start-up.

Sizes: `frame_width` x `frame_height` is the main stream. A camera delivers exactly that size (after
picamera2's alignment); replayed photos are scaled, keeping their aspect ratio, to fit within it.
0 x 0 means native: the photo's own size, or picamera2's default main size.
`lores_width` x `lores_height` adds a second, smaller stream for cheap detection; 0 x 0 means none.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from smartcam.capture.specs import LocationSpec, ReplaySpec, SourceSpec, parse_location, parse_source
from smartcam.common.settings import (
    FRAMES_ENDPOINT_DESCRIPTION,
    CameraSettings,
    FrameRingSettings,
    PipelineKeySettings,
    Scope,
    StatusDirSettings,
    ZmqEndpoint,
    scope,
)
from smartcam.common.wire import PIXEL_FORMATS

MAX_FPS = 1000.0  # cameras cap themselves; replay may go faster, e.g. for bench/pipeline
MIN_FPS = 0.01
MAX_SIDE = 8192
MIN_SIDE = 16
MIN_LOCATION_MAX_AGE_S = 0.1


def _check_side(value: int) -> int:
    if value != 0 and not MIN_SIDE <= value <= MAX_SIDE:
        raise ValueError(f"out of range; use 0 or {MIN_SIDE}..{MAX_SIDE} pixels")
    return value


def _check_pair(width: int | None, height: int, width_var: str) -> None:
    """Width and height are both 0 or both set; `width` is None when it was itself invalid."""
    if width is not None and (width == 0) != (height == 0):
        raise ValueError(f"set both this and {width_var}, or both to 0 (got {width}x{height})")


class CaptureSettings(CameraSettings, FrameRingSettings, StatusDirSettings, PipelineKeySettings):
    """Variables are SMARTCAM_<FIELD>; see the module docstring for the size rules."""

    source: str = Field("replay:/opt/smartcam/photos",
                        description="`picamera2[:<camera number>]`, or `replay:<folder, file or glob>` "
                                    "(photos looped at `SMARTCAM_FPS`).")
    fps: float = Field(2.0, description=f"Frame rate (replay: loop rate), {MIN_FPS} to {MAX_FPS:g}.")
    replay_on_demand: bool = Field(False, description="Replay only: make a frame only when infer asks for one "
                                                      "(at most `SMARTCAM_FPS`), so every photo is inferred in "
                                                      "turn, none is dropped and no CPU goes on frames nobody "
                                                      "takes (benchmarks, running a photo set through the "
                                                      "detector). A camera always runs at its own rate.")
    frame_width: int = Field(1280, description="Main stream width; replayed photos are scaled to fit, keeping "
                                               "aspect; `0` (with height `0`) = native size.")
    frame_height: int = Field(720, description="Main stream height; `0` (with width `0`) = native size.")
    pixel_format: str = Field("RGB24", description="`RGB24`, `BGR24` or `GRAY8`.")
    lores_width: int = Field(0, description="Width of an optional low-resolution stream infer detects on; "
                                            "`0` (with height `0`) = none.")
    lores_height: int = Field(0, description="Height of the optional low-resolution stream; `0` = none.")
    location: str = Field("", description="Empty (none), `fixed:<lat>,<lon>`, `gpsd[:<host>[:<port>]]`, or "
                                          "`nmea:<serial device>[@<baud>]`.")
    location_max_age_s: float = Field(10.0, description="A GPS fix older than this counts as no fix "
                                                        "(`location: null` + one warning per outage).")
    frames_endpoint: ZmqEndpoint = Field("tcp://*:5555", json_schema_extra=scope(Scope.WIRED),
                                         description=FRAMES_ENDPOINT_DESCRIPTION)
    frame_transport: Literal["ring", "tcp"] = Field(
        "ring", description="How frames reach infer: `ring` (pixels in a shared-memory ring on the `frames` "
                            "volume, only a header over ZeroMQ) or `tcp` (pixels over ZeroMQ, e.g. for capture "
                            "and infer on different machines).")

    _source_spec: SourceSpec = PrivateAttr()
    _location_spec: LocationSpec = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Parse the one-line forms once; the validators below already proved they parse."""
        self._source_spec = parse_source(self.source)
        self._location_spec = parse_location(self.location)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        parse_source(value)
        return value

    @field_validator("location")
    @classmethod
    def _known_location(cls, value: str) -> str:
        parse_location(value)
        return value

    @field_validator("fps")
    @classmethod
    def _sane_fps(cls, value: float) -> float:
        if not MIN_FPS <= value <= MAX_FPS:
            raise ValueError(f"frame rate must be between {MIN_FPS} and {MAX_FPS} frames per second, e.g. 2")
        return value

    @field_validator("replay_on_demand")
    @classmethod
    def _replay_only(cls, value: bool, info: ValidationInfo) -> bool:
        source = info.data.get("source")
        if value and source is not None and not isinstance(parse_source(source), ReplaySpec):
            raise ValueError(f"applies to replay sources only, not SMARTCAM_SOURCE={source!r}: a camera delivers "
                             "frames at its own rate; unset it")
        return value

    @field_validator("pixel_format")
    @classmethod
    def _known_pixel_format(cls, value: str) -> str:
        if value.upper() not in PIXEL_FORMATS:
            raise ValueError(f"unknown pixel format; use one of {', '.join(PIXEL_FORMATS)}")
        return value.upper()

    @field_validator("location_max_age_s")
    @classmethod
    def _positive_age(cls, value: float) -> float:
        if value < MIN_LOCATION_MAX_AGE_S:
            raise ValueError(f"must be at least {MIN_LOCATION_MAX_AGE_S} seconds, e.g. 10")
        return value

    @field_validator("frame_width", "lores_width")
    @classmethod
    def _width_in_range(cls, value: int) -> int:
        return _check_side(value)

    @field_validator("frame_height")
    @classmethod
    def _frame_size_complete(cls, value: int, info: ValidationInfo) -> int:
        _check_pair(info.data.get("frame_width"), _check_side(value), "SMARTCAM_FRAME_WIDTH")
        return value

    @field_validator("lores_height")
    @classmethod
    def _lores_size_fits(cls, value: int, info: ValidationInfo) -> int:
        width = info.data.get("lores_width")
        _check_pair(width, _check_side(value), "SMARTCAM_LORES_WIDTH")
        width = width or 0
        main_width, main_height = info.data.get("frame_width", 0), info.data.get("frame_height", 0)
        if main_width and (width > main_width or value > main_height):
            raise ValueError(
                f"the lores stream ({width}x{value}) may not be larger than the main stream "
                f"({main_width}x{main_height}); lower SMARTCAM_LORES_WIDTH/HEIGHT"
            )
        return value

    @property
    def source_spec(self) -> SourceSpec:
        return self._source_spec

    @property
    def location_spec(self) -> LocationSpec:
        return self._location_spec

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the main stream, or None for native."""
        return (self.frame_width, self.frame_height) if self.frame_width else None

    @property
    def lores_size(self) -> tuple[int, int] | None:
        """(width, height) of the lores stream, or None when there is none."""
        return (self.lores_width, self.lores_height) if self.lores_width else None
