"""How long to wait before the next attempt: the server's Retry-After if it sent one, else backoff.

Full jitter (a random wait between 0 and the exponential ceiling) keeps a fleet of cameras that lost
the link together from hammering the server together when it comes back. A server that says when to
come back is believed (within 1 s - 1 h), so a queue drains as soon as the target asks for it.
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A server's Retry-After is clamped to this range: a typo there cannot park the queue for days,
# and "0" or a date in the past cannot turn backoff into a hot loop.
RETRY_AFTER_MIN_S = 1.0
RETRY_AFTER_MAX_S = 3600.0
_DELTA_SECONDS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²", which float() refuses


class Backoff:
    """Consecutive-failure backoff; `reset` after a success."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self._base = base_s
        self._cap = cap_s
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """Seconds to wait after one more failure: the server's Retry-After (clamped) instead of the
        exponential delay when it sent one; the failure counts towards the ceiling either way."""
        ceiling = min(self._cap, self._base * 2 ** min(self.failures, 32))
        self.failures += 1
        if retry_after_s is not None:
            return _clamped(retry_after_s)
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now, clamped to 1 s - 1 h: ASCII delta-seconds or an HTTP date.

    None if absent or unreadable (the caller counts and ignores it); never raises.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return _clamped(float(text))  # float, not int: no digit-count limit, a huge value is just inf
    try:
        moment = parsedate_to_datetime(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _clamped((moment - (now or datetime.now(UTC))).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _clamped(seconds: float) -> float:
    if math.isnan(seconds):  # NaN: no server means that; the minimum keeps it from being a hot loop
        return RETRY_AFTER_MIN_S
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)
