"""Rolling per-frame figures (capture-to-decision latency, frame rate) for health and benchmarks.

`record()` runs on every frame and only appends; `summary()` sorts the window for percentiles and is
meant for when the figures are reported (the health file, about once a second), not per frame.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

WINDOW = 500


class FrameStats:
    """Keeps the last WINDOW latencies and frame times."""

    def __init__(self) -> None:
        self._latencies_ms: deque[float] = deque(maxlen=WINDOW)
        self._done_at: deque[float] = deque(maxlen=WINDOW)

    def record(self, captured_at_epoch: float, decided_at_epoch: float) -> None:
        self._latencies_ms.append((decided_at_epoch - captured_at_epoch) * 1000.0)
        self._done_at.append(time.monotonic())

    def summary(self) -> dict[str, float]:
        """Frame rate and latency percentiles over the window; {} before the first frame."""
        if not self._latencies_ms:
            return {}
        p50, p99 = np.percentile(np.fromiter(self._latencies_ms, dtype=float), [50, 99])
        span = self._done_at[-1] - self._done_at[0]
        fps = (len(self._done_at) - 1) / span if span > 0 else 0.0
        return {"fps": round(fps, 2), "latency_p50_ms": round(float(p50), 1),
                "latency_p99_ms": round(float(p99), 1), "window": len(self._latencies_ms)}
