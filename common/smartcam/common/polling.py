"""When to poll next: the channel's interval with jitter, and a doubling backoff after failures.

Jitter spreads a fleet's polls so a publish does not make every device hit the registry at once;
the backoff keeps an unreachable registry (2G link down) from costing a request every few seconds.
"""

from __future__ import annotations

import random

# Polling interval per channel: evaluation devices update fastest, production ones slowest. Shared by
# the image updater (registry) and the host's channel follower (git), each with its own settings.
DEFAULT_POLL_INTERVALS_S = {"master": 300.0, "devrelease": 1800.0, "release": 6 * 3600.0}


def channel_interval(channel: str, per_channel: dict[str, float], override: float | None) -> float:
    """The interval for `channel`: the override when set, else its own, else master's (unknown channels)."""
    if override is not None:
        return override
    return per_channel.get(channel, per_channel["master"])


class PollSchedule:
    """Delay until the next poll, given whether the last one reached the registry."""

    def __init__(self, interval_s: float, jitter: float, retry_initial_s: float,
                 rng: random.Random | None = None) -> None:
        self._interval = interval_s
        self._jitter = jitter
        self._retry_initial = min(retry_initial_s, interval_s)
        self._rng = rng or random.Random()
        self.failures = 0

    def succeeded(self) -> float:
        self.failures = 0
        return self._jittered(self._interval)

    def failed(self) -> float:
        """Retry sooner than the interval at first, doubling each time, never beyond the interval."""
        self.failures += 1
        # Capped: 2**64 times the first retry exceeds any interval, and past 2**1023 the float product overflows
        # (OverflowError after 1024 failures in a row, days offline on master).
        doublings = min(self.failures - 1, 64)
        return self._jittered(min(self._retry_initial * 2 ** doublings, self._interval))

    def _jittered(self, delay: float) -> float:
        return delay * (1 + self._rng.uniform(-self._jitter, self._jitter))
