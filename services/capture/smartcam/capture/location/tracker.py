"""The latest GPS fix, shared between the background reader (writes) and the capture loop (reads).

A fix older than `max_age_s`, or an explicit "no fix" from the receiver, reads as None. The first
frame of each outage logs one warning; every frame without a fix is counted. `status()` describes
the receiver for capture's status document (fix age, speed, heading, satellites, GPS time vs the
system clock), read by the uploader for the heartbeat.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smartcam.common.contracts.pipeline_status import GpsStatus
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Location

if TYPE_CHECKING:
    from smartcam.capture.location.feed import GpsFix

logger = logging.getLogger("smartcam.capture.location")

NO_FIX_COUNTER = "location.no_fix"  # counted by OncePerKind for every frame without a fix
OUTAGES_COUNTER = "location.outages"


@dataclass
class _Motion:
    """The newest speed and heading, satellites and GPS clock offset, each with when (monotonic) it came."""

    speed_mps: float | None = None
    heading_deg: float | None = None
    moved_at: float | None = None
    satellites: int | None = None
    satellites_at: float | None = None
    clock_offset_s: float | None = None
    clock_at: float | None = None


class FixTracker:
    """Thread-safe holder of the newest fix and the time (monotonic) it arrived."""

    def __init__(self, description: str, max_age_s: float, counters: Counters) -> None:
        self._description = description
        self._max_age_s = max_age_s
        self._counters = counters
        self._outage_log = OncePerKind(logger, counters, "location")
        self._lock = threading.Lock()
        self._fix: tuple[Location, float] | None = None
        self._last_fix_at: float | None = None  # kept through an outage: the status reports the fix's age
        self._motion = _Motion()
        self._in_outage = False

    def fix(self, reading: GpsFix) -> None:
        arrived = time.monotonic()
        with self._lock:
            self._fix = (reading.location, arrived)
            self._last_fix_at = arrived
            motion = self._motion
            if reading.speed_mps is not None or reading.heading_deg is not None:
                motion.speed_mps, motion.heading_deg, motion.moved_at = reading.speed_mps, reading.heading_deg, arrived
            if reading.satellites is not None:
                motion.satellites, motion.satellites_at = reading.satellites, arrived
            if reading.gps_time is not None:
                motion.clock_offset_s, motion.clock_at = reading.gps_time.timestamp() - time.time(), arrived

    def satellites(self, used: int) -> None:
        with self._lock:
            self._motion.satellites, self._motion.satellites_at = used, time.monotonic()

    def lost(self) -> None:
        """The receiver says it has no fix (or went away): stop reporting the old one at once."""
        with self._lock:
            self._fix = None

    def status(self) -> GpsStatus:
        """The receiver's state now; speed, heading and satellites only while they are fresh (`max_age_s`)."""
        now = time.monotonic()
        with self._lock:
            fix, last_fix_at, motion = self._fix, self._last_fix_at, dataclasses.replace(self._motion)

        def fresh(at: float | None) -> bool:
            return fix is not None and at is not None and now - at <= self._max_age_s

        moving = fresh(motion.moved_at)
        return GpsStatus(
            source=self._description,
            fix=fix is not None and now - fix[1] <= self._max_age_s,
            fix_age_s=None if last_fix_at is None else round(now - last_fix_at, 1),
            speed_mps=_rounded(motion.speed_mps, 2) if moving else None,
            heading_deg=_rounded(motion.heading_deg, 1) if moving else None,
            satellites=motion.satellites if fresh(motion.satellites_at) else None,
            gps_clock_offset_s=_rounded(motion.clock_offset_s, 3),
            gps_time_age_s=None if motion.clock_at is None else round(now - motion.clock_at, 1),
        )

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


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
