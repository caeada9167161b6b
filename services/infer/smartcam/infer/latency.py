"""Rolling per-frame figures (capture-to-decision latency, frame rate) for health and benchmarks."""

from __future__ import annotations

import time
from collections import deque

import numpy as np

WINDOW = 500


class FrameStats:
    """Keeps the last WINDOW latencies and frame times; cheap enough for every frame."""

    def __init__(self) -> None:
        self._latencies_ms: deque[float] = deque(maxlen=WINDOW)
        self._done_at: deque[float] = deque(maxlen=WINDOW)

    def record(self, captured_at_epoch: float, decided_at_epoch: float) -> None:
        self._latencies_ms.append((decided_at_epoch - captured_at_epoch) * 1000.0)
        self._done_at.append(time.monotonic())

    def summary(self) -> dict[str, float]:
        if not self._latencies_ms:
            return {}
        latencies = np.fromiter(self._latencies_ms, dtype=float)
        span = self._done_at[-1] - self._done_at[0]
        fps = (len(self._done_at) - 1) / span if span > 0 else 0.0
        return {"fps": round(fps, 2), "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
                "latency_p99_ms": round(float(np.percentile(latencies, 99)), 1), "window": len(latencies)}
