"""Rolling per-frame figures (capture-to-decision latency, frame rate) for health and benchmarks.

`record()` runs on every frame and only appends; `summary()` sorts the window for percentiles and is
meant for when the figures are reported (the health file, about once a second), not per frame.
The window is the last `WINDOW` frames of the last `WINDOW_S` seconds, so the figures describe now:
a stall a minute ago (a restart, a model switch, a paused container) no longer shows in p99.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

WINDOW = 500
WINDOW_S = 10.0


class FrameStats:
    """Keeps the latencies and decision times of the last WINDOW frames; reports those of the last WINDOW_S."""

    def __init__(self) -> None:
        self._latencies_ms: deque[float] = deque(maxlen=WINDOW)
        self._done_at: deque[float] = deque(maxlen=WINDOW)

    def record(self, captured_at_epoch: float, decided_at_epoch: float, now: float | None = None) -> None:
        """One frame decided; `now` is the monotonic time of the decision (default: the clock now)."""
        self._latencies_ms.append((decided_at_epoch - captured_at_epoch) * 1000.0)
        self._done_at.append(time.monotonic() if now is None else now)

    def summary(self, now: float | None = None) -> dict[str, float]:
        """Frame rate and latency percentiles over the window; {} when no frame was decided in it."""
        now = time.monotonic() if now is None else now
        while self._done_at and now - self._done_at[0] > WINDOW_S:
            self._done_at.popleft()
            self._latencies_ms.popleft()
        if not self._latencies_ms:
            return {}
        p50, p99 = np.percentile(np.fromiter(self._latencies_ms, dtype=float), [50, 99])
        span = self._done_at[-1] - self._done_at[0]
        fps = (len(self._done_at) - 1) / span if span > 0 else 0.0
        return {"fps": round(fps, 2), "latency_p50_ms": round(float(p50), 1),
                "latency_p99_ms": round(float(p99), 1), "window": len(self._latencies_ms)}
