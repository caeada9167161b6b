"""The data budgets: bytes on the wire per UTC day and, optionally, per UTC calendar month; over either, events wait.

A data plan is usually monthly, a fair share of it daily: with both set the tighter one wins at any
moment (an event goes only if it fits what is left of both). Nothing is dropped: an event that would
overrun a budget stays queued until that budget's period renews (the disk budget still applies
meanwhile); heartbeats always go (a few kB, and the only news from a device that has run out) and
count against both all the same. The bytes spent are kept in the queue's facts, so neither a restart
nor a crash loop starts a fresh budget.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from smartcam.common.settings import env_name
from smartcam.uploader.settings import UploaderSettings

SPENT_FACT = "budget_spent"  # JSON {"period": <start, epoch seconds>, "bytes": <spent in it>}
MONTHLY_SPENT_FACT = "budget_spent_monthly"  # the same, for the monthly budget
DAILY = "daily_budget"  # held-back reasons, as the heartbeat reports them
MONTHLY = "monthly_budget"


class FactStore(Protocol):
    def fact(self, name: str) -> str | None: ...

    def set_fact(self, name: str, value: str) -> None: ...


class Periods(Protocol):
    def start(self, now: float) -> float: ...

    def end(self, now: float) -> float: ...


@dataclass(frozen=True)
class FixedPeriods:
    """Periods of `length_s` starting at multiples of it since the epoch: UTC midnights for 86400."""

    length_s: float

    def start(self, now: float) -> float:
        return math.floor(now / self.length_s) * self.length_s

    def end(self, now: float) -> float:
        return self.start(now) + self.length_s


class CalendarMonths:
    """UTC calendar months: a data plan's month, 28 to 31 days."""

    def start(self, now: float) -> float:
        day = datetime.fromtimestamp(now, UTC)
        return datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()

    def end(self, now: float) -> float:
        day = datetime.fromtimestamp(now, UTC)
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return datetime(year, month, 1, tzinfo=UTC).timestamp()


class Allowance:
    """One budget: `limit_bytes` per period (0 = unlimited: counted, not kept across restarts)."""

    def __init__(self, reason: str, setting: str, limit_bytes: int, *, periods: Periods, fact: str,
                 store: FactStore) -> None:
        self.reason = reason  # why events are held back, when it is this one
        self.setting = setting  # the variable that sets it, for messages
        self.limit_bytes = limit_bytes
        self._periods = periods
        self._fact = fact
        self._store = store
        self._period = math.nan
        self._spent = 0

    @property
    def limited(self) -> bool:
        return self.limit_bytes > 0

    def load(self, now: float) -> None:
        self._period, self._spent = self._periods.start(now), 0
        try:
            stored = json.loads(self._store.fact(self._fact) or "{}")
            if float(stored["period"]) == self._period:
                self._spent = max(0, int(stored["bytes"]))
        except (ValueError, KeyError, TypeError):
            pass  # none kept, or from an older period, or damaged: this period starts afresh

    def renew(self, now: float) -> None:
        start = self._periods.start(now)
        if start != self._period:
            self._period, self._spent = start, 0

    def fits(self, size: int) -> bool:
        return not self.limited or self._spent + size <= self.limit_bytes

    def book(self, size: int) -> None:
        self._spent += size
        if self.limited:
            self._store.set_fact(self._fact, json.dumps({"period": self._period, "bytes": self._spent}))

    def spent(self) -> int:
        return self._spent

    def seconds_to_renewal(self, now: float) -> float:
        return max(0.0, self._periods.end(now) - now)


class DataBudget:
    """The daily budget (`daily`, always there: its bytes are reported even when unlimited) and the monthly
    one (`monthly`, None when not set); thread-safe, several requests may be in flight."""

    def __init__(self, daily: Allowance, monthly: Allowance | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.daily = daily
        self.monthly = monthly
        self._allowances = [daily] if monthly is None else [daily, monthly]
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        for allowance in self._allowances:
            allowance.load(now)
        self._held_until = 0.0  # monotonic time when events held back may be tried again
        self._held_by: Allowance | None = None
        self._refused_by: Allowance | None = None

    @classmethod
    def for_settings(cls, settings: UploaderSettings, store: FactStore,
                     clock: Callable[[], float] = time.time) -> DataBudget:
        daily = Allowance(DAILY, env_name("daily_budget_mb"), settings.daily_budget_bytes,
                          periods=FixedPeriods(settings.budget_period_s), fact=SPENT_FACT, store=store)
        monthly = None
        if settings.monthly_budget_bytes:
            periods: Periods = (FixedPeriods(settings.monthly_budget_period_s) if settings.monthly_budget_period_s
                                else CalendarMonths())
            monthly = Allowance(MONTHLY, env_name("monthly_budget_mb"), settings.monthly_budget_bytes,
                                periods=periods, fact=MONTHLY_SPENT_FACT, store=store)
        return cls(daily, monthly, clock)

    @property
    def limited(self) -> bool:
        return any(allowance.limited for allowance in self._allowances)

    def tightest(self) -> Allowance | None:
        """The limited budget with the smallest limit (an event larger than it can never go), or None."""
        limited = [allowance for allowance in self._allowances if allowance.limited]
        return min(limited, key=lambda allowance: allowance.limit_bytes) if limited else None

    def try_spend(self, size: int) -> bool:
        """Book `size` bytes for an event if they fit in what is left of every budget's period."""
        with self._lock:
            now = self._renew()
            refusing = [allowance for allowance in self._allowances if not allowance.fits(size)]
            if refusing:  # it waits for the last of them to renew
                self._refused_by = max(refusing, key=lambda allowance: allowance.seconds_to_renewal(now))
                return False
            self._book(size)
            return True

    def spend(self, size: int) -> None:
        """Book `size` bytes that go whatever the budgets say (a heartbeat)."""
        with self._lock:
            self._renew()
            self._book(size)

    def spent(self) -> int:
        """Bytes spent in the current day."""
        with self._lock:
            self._renew()
            return self.daily.spent()

    def spent_this_month(self) -> int | None:
        if self.monthly is None:
            return None
        with self._lock:
            self._renew()
            return self.monthly.spent()

    def hold(self) -> tuple[Allowance, float]:
        """An event did not fit: events are held back until the budget that refused it renews.

        Returns that budget and the seconds to its renewal.
        """
        with self._lock:
            allowance = self._refused_by or self.daily
            renewal_s = allowance.seconds_to_renewal(self._clock())
            self._held_by = allowance
            self._held_until = time.monotonic() + renewal_s
            return allowance, renewal_s

    def held(self) -> bool:
        """True while events are held back (set by `hold`, ends when the period renews)."""
        return time.monotonic() < self._held_until

    def held_reason(self) -> str | None:
        """`daily_budget` or `monthly_budget` while events are held back, else None."""
        held_by = self._held_by
        return held_by.reason if held_by is not None and self.held() else None

    def seconds_held(self) -> float:
        return max(0.0, self._held_until - time.monotonic())

    def seconds_to_renewal(self) -> float:
        """Seconds until the day ends and the daily budget renews."""
        return self.daily.seconds_to_renewal(self._clock())

    def seconds_to_monthly_renewal(self) -> float | None:
        return None if self.monthly is None else self.monthly.seconds_to_renewal(self._clock())

    def _renew(self) -> float:
        now = self._clock()
        for allowance in self._allowances:
            allowance.renew(now)
        return now

    def _book(self, size: int) -> None:
        for allowance in self._allowances:
            allowance.book(size)
