"""The latest GPS fix, shared between the background reader (writes) and the capture loop (reads).

A fix older than `max_age_s`, or an explicit "no fix" from the receiver, reads as None. The first
frame of each outage logs one warning; every frame without a fix is counted.
"""

from __future__ import annotations

import logging
import threading
import time

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Location

logger = logging.getLogger("smartcam.capture.location")

NO_FIX_COUNTER = "location.no_fix"  # counted by OncePerKind for every frame without a fix
OUTAGES_COUNTER = "location.outages"


class FixTracker:
    """Thread-safe holder of the newest fix and the time (monotonic) it arrived."""

    def __init__(self, description: str, max_age_s: float, counters: Counters) -> None:
        self._description = description
        self._max_age_s = max_age_s
        self._counters = counters
        self._outage_log = OncePerKind(logger, counters, "location")
        self._lock = threading.Lock()
        self._fix: tuple[Location, float] | None = None
        self._in_outage = False

    def fix(self, location: Location) -> None:
        with self._lock:
            self._fix = (location, time.monotonic())

    def lost(self) -> None:
        """The receiver says it has no fix (or went away): stop reporting the old one at once."""
        with self._lock:
            self._fix = None

    def current(self) -> Location | None:
        """The fix for a frame taken now, or None (warned once per outage, counted per frame)."""
        with self._lock:
            fix = self._fix
        if fix is not None and time.monotonic() - fix[1] <= self._max_age_s:
            if self._in_outage:
                self._in_outage = False
                self._outage_log.forget("no_fix")
                logger.info("location fix from %s is back: %.6f, %.6f", self._description, fix[0].lat, fix[0].lon)
            return fix[0]
        if not self._in_outage:
            self._in_outage = True
            self._counters.inc(OUTAGES_COUNTER)
        self._outage_log.report(
            "no_fix", f"no location fix from {self._description} (none yet, lost, or older than "
                      f"SMARTCAM_LOCATION_MAX_AGE_S={self._max_age_s:g} s); frames carry no location until it returns",
        )
        return None
