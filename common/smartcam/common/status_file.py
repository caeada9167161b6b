"""A service's status document for other containers (capture's and infer's `status.json`, read by the uploader).

The health file is private to a container (its healthcheck); this one is what a neighbour may read,
typed in `smartcam.common.contracts.pipeline_status`. `StatusWriter.maybe_write()` is called from the
service loop as often as it likes (per frame): it costs a clock read, and rewrites the file atomically
at most once per `interval_s`, so a reader never sees half a file and an idle loop writes nothing new.
A write that fails (volume missing, full) never stops the service: one warning, then only counted.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from smartcam.common.contracts.base import Document, write_document
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind

STATUS_NAME = "status.json"
WRITE_INTERVAL_S = 1.0
RATE_WINDOW_S = 10.0


class StatusWriter:
    """Rewrites `directory/status.json` from `build(now_epoch)` at most once per `interval_s`."""

    def __init__(self, directory: Path, build: Callable[[float], Document], logger: logging.Logger,
                 counters: Counters, *, interval_s: float = WRITE_INTERVAL_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = directory / STATUS_NAME
        self._build = build
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._last: float | None = None
        self._trouble = OncePerKind(logger, counters, "status_file")

    def maybe_write(self) -> None:
        now = self._monotonic()
        if self._last is not None and now - self._last < self._interval_s:
            return
        self._last = now
        try:
            write_document(self.path, self._build(time.time()), durable=False)  # tmpfs: rebuilt each second
        except OSError as error:
            self._trouble.report("write_failed", f"cannot write {self.path} ({error}); the heartbeat shows this "
                                                 "service's figures as stale until it can")
            return
        self._trouble.forget("write_failed")


class RateMeter:
    """The rate of a running total (e.g. frames captured) over the last `window_s`, from samples given to it."""

    def __init__(self, window_s: float = RATE_WINDOW_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._monotonic = monotonic
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, total: int) -> float | None:
        """Record `total` now; per second since the oldest sample within the window, None before two samples."""
        now = self._monotonic()
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()  # keep one sample at or beyond the window's start
        first_at, first_total = self._samples[0]
        if now <= first_at:
            return None
        return round((total - first_total) / (now - first_at), 2)
