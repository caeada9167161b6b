"""The last few distinct problems, with when they were last seen, for the heartbeat and the status.

A device nobody can log into must say what went wrong without its logs: this keeps a short,
bounded memory of distinct errors (a repeated error updates its time and count, not the list).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

KEPT = 5


class RecentErrors:
    """Thread-safe, bounded: at most `kept` distinct messages, newest last."""

    def __init__(self, kept: int = KEPT, clock: Callable[[], float] = time.time) -> None:
        self._kept = kept
        self._clock = clock
        self._lock = threading.Lock()
        self._errors: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def add(self, message: str) -> None:
        with self._lock:
            seen = self._errors.pop(message, {"count": 0})
            self._errors[message] = {"error": message, "at": round(self._clock(), 3), "count": seen["count"] + 1}
            while len(self._errors) > self._kept:
                self._errors.popitem(last=False)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._errors.values()]
