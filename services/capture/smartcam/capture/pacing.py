"""Paces a loop to a frame rate on the monotonic clock, sleeping (never spinning) until each frame is due.

`remaining()` lets the caller spend the time until the next tick on other work (capture serves frame
requests meanwhile); `wait()` then sleeps only what is left.
"""

from __future__ import annotations

import threading
import time


class Pacer:
    """`wait()` returns when the next tick is due; a late caller is re-anchored rather than given a burst."""

    def __init__(self, fps: float, stop: threading.Event | None = None) -> None:
        self._period = 1.0 / fps
        self._stop = stop or threading.Event()
        self._due: float | None = None

    def remaining(self) -> float:
        """Seconds until the next tick is due (0 when it is due now, or on the first call)."""
        return 0.0 if self._due is None else max(0.0, self._due - time.monotonic())

    def wait(self) -> None:
        """Sleep until the next tick (or until `stop` is set); the first tick is immediate."""
        now = time.monotonic()
        if self._due is None or now - self._due > self._period:
            self._due = now  # first call, or we fell more than a period behind: start afresh
        delay = self._due - now
        if delay > 0:
            self._stop.wait(delay)
        self._due += self._period
