"""The data budget: bytes on the wire per period (a UTC day by default); over it, events wait.

Nothing is dropped: an event that would overrun the budget stays queued until the period renews
(the disk budget still applies meanwhile); heartbeats always go (a few kB, and the only news from a
device that has run out) and count against it all the same. The bytes spent are kept in the queue's
facts, so neither a restart nor a crash loop starts a fresh budget.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from smartcam.uploader.settings import UploaderSettings

SPENT_FACT = "budget_spent"  # JSON {"period": <start, epoch seconds>, "bytes": <spent in it>}


class FactStore(Protocol):
    def fact(self, name: str) -> str | None: ...

    def set_fact(self, name: str, value: str) -> None: ...


class DataBudget:
    """Bytes allowed per period (periods start at multiples of `period_s` since the epoch: UTC midnight
    for a day); `limit_bytes` 0 = unlimited."""

    def __init__(self, limit_bytes: int, period_s: float, store: FactStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit_bytes = limit_bytes
        self._period_s = period_s
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._period, self._spent = self._load()
        self._held_until = 0.0  # monotonic time when events held back may be tried again

    @classmethod
    def for_settings(cls, settings: UploaderSettings, store: FactStore) -> DataBudget:
        return cls(settings.daily_budget_bytes, settings.budget_period_s, store)

    @property
    def limited(self) -> bool:
        return self.limit_bytes > 0

    def try_spend(self, size: int) -> bool:
        """Book `size` bytes for an event if they fit in what is left of this period."""
        with self._lock:
            self._renew()
            if self.limited and self._spent + size > self.limit_bytes:
                return False
            self._book(size)
            return True

    def spend(self, size: int) -> None:
        """Book `size` bytes that go whatever the budget says (a heartbeat)."""
        with self._lock:
            self._renew()
            self._book(size)

    def spent(self) -> int:
        with self._lock:
            self._renew()
            return self._spent

    def hold(self) -> float:
        """An event did not fit: events are held back until the period renews; returns the seconds to it."""
        renewal_s = self.seconds_to_renewal()
        self._held_until = time.monotonic() + renewal_s
        return renewal_s

    def held(self) -> bool:
        """True while events are held back (set by `hold`, ends when the period renews)."""
        return time.monotonic() < self._held_until

    def seconds_held(self) -> float:
        return max(0.0, self._held_until - time.monotonic())

    def seconds_to_renewal(self) -> float:
        return max(0.0, self._period_start(self._clock()) + self._period_s - self._clock())

    def _renew(self) -> None:
        start = self._period_start(self._clock())
        if start != self._period:
            self._period, self._spent = start, 0

    def _book(self, size: int) -> None:
        self._spent += size
        if self.limited:
            self._store.set_fact(SPENT_FACT, json.dumps({"period": self._period, "bytes": self._spent}))

    def _period_start(self, now: float) -> float:
        return math.floor(now / self._period_s) * self._period_s

    def _load(self) -> tuple[float, int]:
        start = self._period_start(self._clock())
        try:
            stored = json.loads(self._store.fact(SPENT_FACT) or "{}")
            if float(stored["period"]) == start:
                return start, max(0, int(stored["bytes"]))
        except (ValueError, KeyError, TypeError):
            pass  # none kept, or from an older period, or damaged: this period starts afresh
        return start, 0
