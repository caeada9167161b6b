"""A GPS feed read line by line on a background thread that reconnects, so a slow or absent GPS never stalls capture.

A feed (gpsd, NMEA serial) knows how to connect and how to interpret one line; `FeedReader` owns the
thread, the reconnect loop and the log-once bookkeeping, and hands fixes to a `FixTracker`.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smartcam.capture.location.tracker import FixTracker
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Location

logger = logging.getLogger("smartcam.capture.location")

RETRY_S = 2.0
POLL_S = 0.25  # how often a blocked read looks at the stop flag
MAX_LINE_BYTES = 16 * 1024
_EXCERPT_CHARS = 80


class Report(enum.Enum):
    NO_FIX = "no_fix"  # the receiver says it has no position
    IGNORED = "ignored"  # a well-formed line that says nothing about the position


@dataclass(frozen=True)
class GpsFix:
    """A position, and what else the same report says about it (None where it says nothing)."""

    location: Location
    speed_mps: float | None = None
    heading_deg: float | None = None
    satellites: int | None = None
    gps_time: datetime | None = None  # the fix's UTC date and time, when the report carries both


@dataclass(frozen=True)
class Satellites:
    """A report without a position that says how many satellites the receiver uses (gpsd SKY)."""

    used: int


Reading = GpsFix | Satellites | Report


def finite_or_none(value: object, low: float, high: float) -> float | None:
    """`value` as a float if it is a finite number within low..high; None otherwise (an optional figure)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


class GarbageLineError(ValueError):
    """A line that is not valid protocol; counted and logged once, never fatal."""


class LineConnection(Protocol):
    def read_line(self) -> bytes | None:
        """The next line without its newline, None if none arrived within POLL_S; OSError when the link is gone."""

    def close(self) -> None: ...


class LineFeed(Protocol):
    description: str

    def connect(self) -> LineConnection:
        """Open the link; OSError (with the reason) when the GPS is not there."""

    def interpret(self, line: bytes) -> Reading:
        """What one line says; GarbageLineError when it is not valid protocol."""


def valid_location(lat: object, lon: object) -> Location | None:
    """A Location if both are finite numbers within range, else None."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    lat_value, lon_value = float(lat), float(lon)  # type: ignore[arg-type]
    if not (math.isfinite(lat_value) and math.isfinite(lon_value)):
        return None
    if not (-90 <= lat_value <= 90 and -180 <= lon_value <= 180):
        return None
    return Location(lat_value, lon_value)


class FeedReader:
    """Runs a feed on a daemon thread until close(): connect, read, interpret, reconnect after RETRY_S."""

    def __init__(self, feed: LineFeed, tracker: FixTracker, counters: Counters, retry_s: float = RETRY_S) -> None:
        self._feed = feed
        self._tracker = tracker
        self._retry_s = retry_s
        self._problems = OncePerKind(logger, counters, "location")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"location: {feed.description}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * POLL_S + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection = self._feed.connect()
            except OSError as error:
                self._problems.report("unreachable", f"cannot reach {self._feed.description} ({error}); retrying "
                                                     f"every {self._retry_s:g} s: check SMARTCAM_LOCATION and the GPS")
                self._stop.wait(self._retry_s)
                continue
            self._problems.forget("unreachable")
            logger.info("reading location from %s", self._feed.description)
            try:
                self._pump(connection)
            except OSError as error:
                self._problems.report("disconnected", f"lost {self._feed.description} ({error}); reconnecting "
                                                      f"every {self._retry_s:g} s")
                self._stop.wait(self._retry_s)
            except Exception as error:  # a bug must cost the location, never the capture loop
                self._problems.report("reader_failed", f"reading {self._feed.description} failed unexpectedly "
                                                       f"({error!r}); reconnecting", level=logging.ERROR)
                self._stop.wait(self._retry_s)
            finally:
                connection.close()
                self._tracker.lost()

    def _pump(self, connection: LineConnection) -> None:
        first_line = True
        while not self._stop.is_set():
            line = connection.read_line()
            if line is None:
                continue
            if first_line:
                first_line = False
                self._problems.forget("disconnected")  # data flows again: the next loss is worth a line
            try:
                reading = self._feed.interpret(line)
            except GarbageLineError as error:
                excerpt = line[:_EXCERPT_CHARS].decode("ascii", "backslashreplace")
                self._problems.report("garbage", f"ignoring a malformed line from {self._feed.description} "
                                                 f"({error}): {excerpt!r}")
                continue
            if isinstance(reading, GpsFix):
                self._tracker.fix(reading)
            elif isinstance(reading, Satellites):
                self._tracker.satellites(reading.used)
            elif reading is Report.NO_FIX:
                self._tracker.lost()
