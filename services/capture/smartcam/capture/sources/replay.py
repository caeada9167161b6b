"""`replay:<folder, file or glob>`: real photos from disk, looped at the configured frame rate.

Photos are decoded and scaled once at open() and kept in memory (read-only arrays, sent without
copying), so replay costs no CPU per frame. This source lets the appliance run on any Linux box.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from smartcam.capture.imaging import fit_within, to_pixel_format
from smartcam.capture.pacing import Pacer
from smartcam.capture.sources.base import (
    LORES,
    MAIN,
    CapturedImages,
    SourceError,
    StreamConfig,
    StreamImage,
    stream_image,
)
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind

if TYPE_CHECKING:
    from collections.abc import Iterator

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
CACHE_LIMIT_BYTES = 512 * 1024 * 1024  # enough for ~180 photos at 1280x720 RGB; a Pi must not run out of memory
_GLOB_CHARACTERS = frozenset("*?[")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_FIX_ACCESS = "make it readable by the container user (e.g. chmod -R a+rX on the host folder)"

logger = logging.getLogger("smartcam.capture.replay")

Photo = dict[str, StreamImage]


def find_photos(pattern: str) -> list[Path]:
    """The image files `pattern` names, sorted; SourceError (naming the path and the fix) if there are none."""
    if _GLOB_CHARACTERS & set(pattern):
        paths = [Path(p) for p in sorted(glob.glob(pattern)) if Path(p).is_file()]
        where = f"the pattern {pattern!r}"
    else:
        path = Path(pattern)
        if path.is_file():
            return [path]
        if not path.exists():
            raise SourceError(
                f"replay folder {path} does not exist; mount your photos there or set "
                "SMARTCAM_SOURCE=replay:<folder with .jpg/.png photos>"
            )
        if not os.access(path, os.R_OK | os.X_OK):
            raise SourceError(f"replay folder {path} is not readable; {_FIX_ACCESS}")
        paths = sorted(p for p in path.iterdir() if p.is_file())
        where = f"the folder {path}"
    photos = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise SourceError(
            f"no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) in {where}; add some or point SMARTCAM_SOURCE "
            "at another folder"
        )
    return photos


def decode_photo(path: Path, config: StreamConfig) -> Photo:
    """Decode one photo into its main (and lores) streams; raises OSError/ValueError-like errors if broken."""
    with Image.open(path) as opened:
        opened.load()  # decode now, so a truncated file fails here and not mid-replay
        image = ImageOps.exif_transpose(opened)
    streams = {MAIN: _scaled(image, config.frame_size, config.pixel_format)}
    if config.lores_size is not None:
        streams[LORES] = _scaled(image, config.lores_size, config.pixel_format)
    return streams


def _scaled(image: Image.Image, box: tuple[int, int] | None, pixel_format: str) -> StreamImage:
    if box is not None:
        size = fit_within(image.size, box)
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
    array = to_pixel_format(image, pixel_format)
    array.flags.writeable = False  # shared by every frame that replays it
    return stream_image(array, pixel_format)


class ReplaySource:
    """Loops over decoded photos; read() returns the next one when it is due at `fps`.

    With `on_demand` the capture loop reads only when a consumer waits for a frame, so `fps` is a ceiling.
    """

    def __init__(self, pattern: str, config: StreamConfig, *, stop: threading.Event | None = None,
                 counters: Counters | None = None, on_demand: bool = False) -> None:
        self.description = f"replay of {pattern}" + (" (on demand)" if on_demand else "")
        self.on_demand = on_demand
        self._pattern = pattern
        self._config = config
        self._pacer = Pacer(config.fps, stop)
        self.counters = counters or Counters()
        self._skipped = OncePerKind(logger, self.counters, "replay.skipped")
        self.photos: list[Photo] = []
        self._next: Iterator[Photo] | None = None

    def open(self) -> None:
        paths = find_photos(self._pattern)
        cached = 0
        for path in paths:
            try:
                photo = decode_photo(path, self._config)
            except PermissionError:
                self._skipped.report("unreadable", f"skipping photo {path}: permission denied; {_FIX_ACCESS}")
                continue
            except _DECODE_ERRORS as error:
                self._skipped.report("corrupt", f"skipping photo {path}: cannot decode it ({error}); "
                                                "replace or remove the file")
                continue
            size = sum(image.array.nbytes for image in photo.values())
            if cached + size > CACHE_LIMIT_BYTES:
                logger.warning("replaying only the first %d of %d photos: the rest would exceed the %d MiB "
                               "replay cache; lower SMARTCAM_FRAME_WIDTH/HEIGHT or use fewer photos",
                               len(self.photos), len(paths), CACHE_LIMIT_BYTES // 2**20)
                break
            cached += size
            self.photos.append(photo)
        if not self.photos:
            raise SourceError(f"none of the {len(paths)} photo(s) for SMARTCAM_SOURCE=replay:{self._pattern} "
                              "could be read; check the log for each file's problem, replace them with valid "
                              "JPEG/PNG photos")
        logger.info("replaying %d photo(s) from %s (%.1f MiB decoded)", len(self.photos), self._pattern,
                    cached / 2**20)
        self._next = cycle(self.photos)

    def due_in(self) -> float:
        return self._pacer.remaining()

    def read(self) -> CapturedImages:
        if self._next is None:
            raise SourceError("the replay source was read before open() or after close()")
        photo = next(self._next)
        self._pacer.wait()
        return CapturedImages(datetime.now(UTC), dict(photo))

    def close(self) -> None:
        self._next = None
        self.photos = []
