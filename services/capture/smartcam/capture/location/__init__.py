"""Where each frame was taken: none, fixed coordinates, gpsd or an NMEA serial GPS (SMARTCAM_LOCATION).

Call `open_location(settings, counters)` once, `current()` per frame (never blocks), `close()` at the end;
`gps()` describes a GPS receiver for capture's status document (None when the location is not a GPS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from smartcam.capture.location.feed import RETRY_S, FeedReader, LineFeed
from smartcam.capture.location.tracker import FixTracker
from smartcam.capture.specs import FixedSpec, GpsdSpec, NmeaSpec
from smartcam.common.contracts.pipeline_status import GpsStatus
from smartcam.common.wire import Location

if TYPE_CHECKING:
    from smartcam.capture.settings import CaptureSettings
    from smartcam.common.counters import Counters


class LocationProvider(Protocol):
    def current(self) -> Location | None:
        """The location for a frame captured now, or None; never blocks."""

    def gps(self) -> GpsStatus | None:
        """The GPS receiver's state, or None when the location does not come from one."""

    def close(self) -> None: ...


class NoLocation:
    def current(self) -> None:
        return None

    def gps(self) -> None:
        return None

    def close(self) -> None:
        pass


class FixedLocation:
    def __init__(self, location: Location) -> None:
        self._location = location

    def current(self) -> Location:
        return self._location

    def gps(self) -> None:
        return None

    def close(self) -> None:
        pass


class LiveLocation:
    """A GPS feed read in the background; current() returns its latest fresh fix."""

    def __init__(self, feed: LineFeed, max_age_s: float, counters: Counters, retry_s: float = RETRY_S) -> None:
        self._tracker = FixTracker(feed.description, max_age_s, counters)
        self._reader = FeedReader(feed, self._tracker, counters, retry_s)
        self._reader.start()

    def current(self) -> Location | None:
        return self._tracker.current()

    def gps(self) -> GpsStatus:
        return self._tracker.status()

    def close(self) -> None:
        self._reader.close()


def open_location(settings: CaptureSettings, counters: Counters) -> LocationProvider:
    """The provider SMARTCAM_LOCATION names; a GPS that is absent now only logs a warning and retries."""
    spec = settings.location_spec
    if isinstance(spec, FixedSpec):
        return FixedLocation(Location(spec.lat, spec.lon))
    if isinstance(spec, GpsdSpec):
        from smartcam.capture.location.gpsd import GpsdFeed  # noqa: PLC0415

        return LiveLocation(GpsdFeed(spec.host, spec.port), settings.location_max_age_s, counters)
    if isinstance(spec, NmeaSpec):
        from smartcam.capture.location.nmea import NmeaFeed  # noqa: PLC0415  (pyserial only when used)

        return LiveLocation(NmeaFeed(spec.device, spec.baud), settings.location_max_age_s, counters)
    return NoLocation()


__all__ = ["FixedLocation", "LiveLocation", "LocationProvider", "NoLocation", "open_location"]
