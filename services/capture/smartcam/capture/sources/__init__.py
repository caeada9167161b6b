"""Frame sources: replayed photos and the Raspberry Pi camera."""

from smartcam.capture.sources.base import (
    LORES,
    MAIN,
    CapturedImages,
    FrameSource,
    SourceError,
    StreamConfig,
    StreamImage,
    open_source,
)

__all__ = [
    "LORES",
    "MAIN",
    "CapturedImages",
    "FrameSource",
    "SourceError",
    "StreamConfig",
    "StreamImage",
    "open_source",
]
