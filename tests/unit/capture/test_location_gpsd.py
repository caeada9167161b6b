import json
import logging
import threading
from datetime import UTC, datetime

import pytest

from smartcam.capture.location import LiveLocation, open_location
from smartcam.capture.location.feed import GarbageLineError, GpsFix, Report, Satellites
from smartcam.capture.location.gpsd import GpsdFeed
from smartcam.common.wire import Location
from tests.conftest import find_free_port

from .conftest import wait_for
from .gpsd_server import VERSION, GpsdServer, tpv

FIX_TIME = datetime(2026, 11, 27, 3, 40, tzinfo=UTC)  # what tpv() says


@pytest.fixture
def gpsd():
    server = GpsdServer()
    yield server
    server.close()


@pytest.fixture
def live(counters):
    providers = []

    def make(port, max_age_s=10.0):
        provider = LiveLocation(GpsdFeed("127.0.0.1", port), max_age_s, counters, retry_s=0.1)
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        provider.close()


def test_a_tpv_fix_becomes_the_frame_location(gpsd, make_settings, counters):
    provider = open_location(make_settings(location=f"gpsd:127.0.0.1:{gpsd.port}"), counters)
    try:
        wait_for(lambda: gpsd.commands)
        assert gpsd.commands == [b'?WATCH={"enable":true,"json":true}\n']
        gpsd.send(tpv(3, 52.520008, 13.404954))
        assert wait_for(provider.current) == Location(52.520008, 13.404954)
    finally:
        provider.close()


def test_no_fix_gives_none_and_one_warning_per_outage(gpsd, live, counters, caplog):
    with caplog.at_level(logging.WARNING):
        provider = live(gpsd.port)
        assert provider.current() is None  # outage 1: no fix yet
        gpsd.send(tpv(3, 48.1173, 11.5167))
        wait_for(provider.current)
        gpsd.send(tpv(1))  # outage 2  # the receiver lost the sky
        wait_for(lambda: provider.current() is None)
        for _ in range(10):
            assert provider.current() is None
        gpsd.send(tpv(2, 48.2, 11.6))
        assert wait_for(provider.current) == Location(48.2, 11.6)
        gpsd.send(tpv(0))  # outage 3
        wait_for(lambda: provider.current() is None)
    warnings = [r.getMessage() for r in caplog.records if "no location fix" in r.getMessage()]
    assert len(warnings) == 3  # one per outage, not one per frame
    assert f"gpsd at 127.0.0.1:{gpsd.port}" in warnings[0]
    assert counters.get("location.outages") == 3
    assert counters.get("location.no_fix") >= 13


def test_a_stale_fix_is_not_reported(gpsd, live):
    provider = live(gpsd.port, max_age_s=0.3)
    gpsd.send(tpv(3, 1.0, 2.0))
    assert wait_for(provider.current) == Location(1.0, 2.0)
    wait_for(lambda: provider.current() is None, timeout=2)  # gpsd went quiet: the old fix expires


def test_garbage_lines_are_counted_and_reading_goes_on(gpsd, live, counters, caplog):
    provider = live(gpsd.port)
    with caplog.at_level(logging.WARNING):
        gpsd.send(b"this is not json")
        gpsd.send(b'{"class":"TPV","mode":3,"lat":"north","lon":13.4}')
        gpsd.send(b'["no", "class"]')
        gpsd.send(b"\xff\xfe\x00")
        gpsd.send(tpv(3, 10.0, 20.0))
        assert wait_for(provider.current) == Location(10.0, 20.0)
    assert counters.get("location.garbage") == 4
    assert len([r for r in caplog.records if "malformed line" in r.getMessage()]) == 1


def test_gpsd_absent_then_started_is_picked_up(live, counters, caplog):
    port = find_free_port()
    with caplog.at_level(logging.WARNING):
        provider = live(port)
        assert provider.current() is None
        wait_for(lambda: counters.get("location.unreachable") >= 2)
    assert len([r for r in caplog.records if "cannot reach gpsd" in r.getMessage()]) == 1
    server = GpsdServer(port)
    try:
        server.send(tpv(3, -33.9, 151.2))
        assert wait_for(provider.current) == Location(-33.9, 151.2)
    finally:
        server.close()


def test_gpsd_restart_is_survived(live, counters):
    server = GpsdServer()
    port = server.port
    provider = live(port)
    server.send(tpv(3, 1.5, 2.5))
    wait_for(provider.current)
    server.close()
    wait_for(lambda: provider.current() is None)  # the link is gone: no stale fix is passed on
    wait_for(lambda: counters.get("location.disconnected") >= 1)
    restarted = GpsdServer(port)
    try:
        restarted.send(tpv(3, 3.5, 4.5))
        assert wait_for(provider.current) == Location(3.5, 4.5)
    finally:
        restarted.close()


def test_close_stops_the_reader_thread(gpsd, make_settings, counters):
    provider = open_location(make_settings(location=f"gpsd:127.0.0.1:{gpsd.port}"), counters)
    wait_for(lambda: gpsd.commands)
    provider.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("location: gpsd") and t.is_alive()]


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (tpv(3, 52.5, 13.4), GpsFix(Location(52.5, 13.4), speed_mps=0.0, gps_time=FIX_TIME)),
        (tpv(2, -1.25, -70.5), GpsFix(Location(-1.25, -70.5), speed_mps=0.0, gps_time=FIX_TIME)),
        ({**tpv(3, 1.0, 2.0), "speed": 13.9, "track": 271.5}, GpsFix(Location(1.0, 2.0), speed_mps=13.9,
                                                                     heading_deg=271.5, gps_time=FIX_TIME)),
        # figures a TPV gets wrong are left out, the position is still good
        ({**tpv(3, 1.0, 2.0), "speed": -1, "track": "east", "time": "yesterday"}, GpsFix(Location(1.0, 2.0))),
        ({**tpv(3, 1.0, 2.0), "speed": "NaN", "track": 361, "time": "9999-12-31T23:59:59-23:59"},
         GpsFix(Location(1.0, 2.0))),
        (tpv(1), Report.NO_FIX),
        (tpv(0), Report.NO_FIX),
        ({"class": "TPV", "device": "/dev/ttyACM0", "mode": 3}, Report.NO_FIX),  # fix claimed, no position yet
        ({"class": "SKY", "satellites": []}, Satellites(0)),
        ({"class": "SKY", "satellites": [{"PRN": 5, "used": True}, {"PRN": 7, "used": False}]}, Satellites(1)),
        ({"class": "SKY", "uSat": 9, "satellites": []}, Satellites(9)),  # gpsd 3.20+ counts them itself
        ({"class": "SKY"}, Report.IGNORED),
        (VERSION, Report.IGNORED),
    ],
)
def test_report_meanings(report, expected):
    """What each gpsd report means: a fix with its speed, course and time, a satellite count, or nothing."""
    assert GpsdFeed("localhost", 2947).interpret(json.dumps(report).encode()) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "not a JSON report"),
        (b"\xff\xfe", "not a JSON report"),
        (b"[1, 2]", "without a report class"),
        (b'{"class":"TPV","mode":3,"lat":91.0,"lon":0.0}', "invalid lat/lon"),
        (b'{"class":"TPV","mode":3,"lat":"north","lon":0.0}', "invalid lat/lon"),
    ],
)
def test_malformed_reports_are_garbage(line, reason):
    with pytest.raises(GarbageLineError, match=reason):
        GpsdFeed("localhost", 2947).interpret(line)


class CrashingOnceFeed(GpsdFeed):
    """The real gpsd feed with a bug planted in its first interpretation."""

    crashed = False

    def interpret(self, line):
        if not self.crashed:
            self.crashed = True
            raise KeyError("planted bug")
        return super().interpret(line)


def test_an_unexpected_reader_error_costs_the_location_not_the_thread(gpsd, counters, caplog):
    provider = LiveLocation(CrashingOnceFeed("127.0.0.1", gpsd.port), 10.0, counters, retry_s=0.1)
    try:
        gpsd.send(tpv(3, 5.0, 6.0))
        wait_for(lambda: counters.get("location.reader_failed") == 1)
        # like a real gpsd, keep reporting once a cycle: reports sent while the reader reconnects are lost
        assert wait_for(lambda: gpsd.send(tpv(3, 7.0, 8.0)) or provider.current()) == Location(7.0, 8.0)
    finally:
        provider.close()
    assert any("planted bug" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_the_status_reports_fix_age_motion_satellites_and_the_gps_clock_offset(gpsd, live):
    provider = live(gpsd.port)
    status = provider.gps()
    assert (status.source, status.fix, status.fix_age_s) == (f"gpsd at 127.0.0.1:{gpsd.port}", False, None)
    gpsd.send({"class": "SKY", "uSat": 7})
    gpsd.send({**tpv(3, 52.5, 13.4), "speed": 8.25, "track": 90.0, "time": "2030-01-01T00:00:00.000Z"})
    wait_for(provider.current)
    status = wait_for(lambda: (s := provider.gps()).satellites == 7 and s)
    assert status.fix
    assert 0 <= status.fix_age_s < 5
    assert (status.speed_mps, status.heading_deg) == (8.25, 90.0)
    # The receiver says 2030 while this machine says now: the offset is the difference, seen from here.
    expected = datetime(2030, 1, 1, tzinfo=UTC).timestamp() - datetime.now(UTC).timestamp()
    assert status.gps_clock_offset_s == pytest.approx(expected, abs=5)
    gpsd.send(tpv(1))  # the sky is lost: no fix, motion no longer reported, the fix's age still is
    status = wait_for(lambda: (s := provider.gps()).fix is False and s)
    assert status.fix_age_s is not None
    assert (status.speed_mps, status.heading_deg, status.satellites) == (None, None, None)
