import logging
import os
import threading
import time
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import pytest

from smartcam.capture.location import LiveLocation, open_location
from smartcam.capture.location.feed import GarbageLineError, Report
from smartcam.capture.location.nmea import NmeaFeed
from smartcam.common.wire import Location

from .conftest import wait_for


def sentence(body):
    """A real NMEA 0183 sentence: $<body>*<XOR checksum>CRLF."""
    checksum = reduce(lambda total, char: total ^ ord(char), body, 0)
    return f"${body}*{checksum:02X}\r\n".encode()


GGA_FIX = sentence("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
GGA_NO_FIX = sentence("GPGGA,123520,,,,,0,00,99.99,,,,,,")
RMC_FIX = sentence("GNRMC,123521.00,A,3351.000,S,15112.000,E,0.02,,271126,,,A")
RMC_VOID = sentence("GNRMC,123522.00,V,,,,,,,271126,,,N")
GSV = sentence("GPGSV,1,1,01,10,63,137,17")
TXT = sentence("GPTXT,01,01,02,ANTSTATUS=OK")
MUNICH = Location(48.1173, 11.516666666666667)
SYDNEY = Location(-33.85, 151.2)


class FakeReceiver:
    """A GPS receiver on the far end of a real pty: writes NMEA to the master side, like a USB GPS every
    `period` seconds; the service opens the slave side as its serial port."""

    def __init__(self, link_path=None):
        self.master, self._slave = os.openpty()
        self.device = os.ttyname(self._slave)
        self.path = link_path or self.device
        if link_path is not None:
            link_path.symlink_to(self.device)
        self.lines = [GGA_FIX]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._talk, daemon=True)
        self._thread.start()

    def _talk(self):
        while not self._stop.is_set():
            for line in list(self.lines):
                try:
                    os.write(self.master, line)
                except OSError:
                    return
            self._stop.wait(0.05)

    def unplug(self):
        self._stop.set()
        self._thread.join()
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def receiver():
    device = FakeReceiver()
    yield device
    if not device._stop.is_set():
        device.unplug()


@pytest.fixture
def live(counters):
    providers = []

    def make(path, max_age_s=10.0):
        provider = LiveLocation(NmeaFeed(path, 9600), max_age_s, counters, retry_s=0.1)
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        provider.close()


def test_gga_fix_on_the_serial_port_becomes_the_location(receiver, make_settings, counters):
    provider = open_location(make_settings(location=f"nmea:{receiver.path}@9600"), counters)
    try:
        location = wait_for(provider.current)
    finally:
        provider.close()
    assert location.lat == pytest.approx(MUNICH.lat)
    assert location.lon == pytest.approx(MUNICH.lon)


def test_rmc_fix_in_the_southern_hemisphere(receiver, live):
    receiver.lines = [GSV, TXT, RMC_FIX]
    provider = live(receiver.path)
    # The pty may still hold the receiver's first (northern) sentences, written before the switch: wait them out.
    location = wait_for(lambda: (found := provider.current()) is not None and found.lat < 0 and found)
    assert location.lat == pytest.approx(SYDNEY.lat)
    assert location.lon == pytest.approx(SYDNEY.lon)


def test_no_fix_sentences_give_none_and_one_warning(receiver, live, counters, caplog):
    receiver.lines = [GGA_NO_FIX]
    with caplog.at_level(logging.WARNING):
        provider = live(receiver.path)
        assert provider.current() is None  # outage 1: no fix yet
        receiver.lines = [GGA_FIX]
        wait_for(provider.current)
        receiver.lines = [GGA_NO_FIX, RMC_VOID]  # outage 2: the receiver lost the sky
        wait_for(lambda: provider.current() is None)
        time.sleep(0.2)
        for _ in range(5):
            assert provider.current() is None
    warnings = [r for r in caplog.records if "no location fix from NMEA GPS" in r.getMessage()]
    assert len(warnings) == 2  # one per outage, not one per frame
    assert counters.get("location.outages") == 2


def test_garbage_is_counted_and_valid_sentences_still_used(receiver, live, counters, caplog):
    receiver.lines = [
        b"\xff\xfe\x00 line noise at the wrong baud rate\r\n",
        sentence("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")[:-5] + b"00\r\n",  # bad checksum
        b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,\r\n",  # no checksum
        sentence("GPGGA,123519,,,,,1,08,0.9,545.4,M,46.9,M,,"),  # claims a fix without coordinates
        GGA_FIX,
    ]
    with caplog.at_level(logging.WARNING):
        provider = live(receiver.path)
        wait_for(provider.current)
        wait_for(lambda: counters.get("location.garbage") >= 8)  # two rounds of four bad lines
    assert provider.current().lat == pytest.approx(MUNICH.lat)
    assert len([r for r in caplog.records if "malformed line" in r.getMessage()]) == 1


def test_port_absent_then_plugged_in_is_picked_up(tmp_path, live, counters, caplog):
    link = tmp_path / "gps0"
    with caplog.at_level(logging.WARNING):
        provider = live(link)
        wait_for(lambda: counters.get("location.unreachable") >= 2)
        assert provider.current() is None
    assert len([r for r in caplog.records if f"cannot reach NMEA GPS on {link}" in r.getMessage()]) == 1
    device = FakeReceiver(link)
    try:
        assert wait_for(provider.current).lat == pytest.approx(MUNICH.lat)
    finally:
        device.unplug()


def test_unplugged_receiver_is_survived_and_reconnected(tmp_path, live, counters):
    link = tmp_path / "gps0"
    first = FakeReceiver(link)
    provider = live(link)
    wait_for(provider.current)
    first.unplug()
    link.unlink()
    wait_for(lambda: provider.current() is None)
    wait_for(lambda: counters.get("location.disconnected") >= 1)
    second = FakeReceiver(link)
    second.lines = [RMC_FIX]
    try:
        assert wait_for(provider.current).lat == pytest.approx(SYDNEY.lat)
    finally:
        second.unplug()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (GGA_FIX, MUNICH),
        (RMC_FIX, SYDNEY),
        (GGA_NO_FIX, Report.NO_FIX),
        (RMC_VOID, Report.NO_FIX),
        (sentence("GNRMC,123522.00,V,3351.000,S,15112.000,E,0.02,,271126,,,N"), Report.NO_FIX),  # void, stale coords
        (GSV, Report.IGNORED),
        (TXT, Report.IGNORED),
        (sentence("GPXYZ,1,2"), Report.IGNORED),  # well-formed, unknown type
        (b"\r\n", Report.IGNORED),
    ],
)
def test_sentence_meanings(line, expected):
    reading = NmeaFeed(Path("/dev/null"), 9600).interpret(line.strip())
    if isinstance(expected, Location):
        assert reading.location.lat == pytest.approx(expected.lat)
        assert reading.location.lon == pytest.approx(expected.lon)
    else:
        assert reading is expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\xff\xfe\x00", "not ASCII"),
        (GGA_FIX[:-5] + b"00", "checksum"),
        (GGA_FIX.split(b"*")[0], "checksum missing"),
        (b"random words", "not a valid NMEA sentence"),
        (sentence("GPGGA,123519,,,,,1,08,0.9,545.4,M,46.9,M,,"), "without coordinates"),  # would read as 0,0
        (sentence("GNRMC,123521.00,A,,,,,0.02,,271126,,,A"), "without coordinates"),
    ],
)
def test_malformed_sentences_are_garbage(line, reason):
    with pytest.raises(GarbageLineError, match=reason):
        NmeaFeed(Path("/dev/null"), 9600).interpret(line.strip())


def test_gga_says_the_satellites_and_rmc_the_speed_course_and_time():
    feed = NmeaFeed(Path("/dev/null"), 9600)
    gga = feed.interpret(GGA_FIX.strip())
    assert (gga.satellites, gga.speed_mps, gga.gps_time) == (8, None, None)  # GGA has no date: no time
    rmc = feed.interpret(sentence("GNRMC,123521.00,A,3351.000,S,15112.000,E,10.0,045.5,271126,,,A").strip())
    assert rmc.speed_mps == pytest.approx(5.144, abs=0.001)  # 10 knots
    assert rmc.heading_deg == 45.5
    assert rmc.gps_time == datetime(2026, 11, 27, 12, 35, 21, tzinfo=UTC)
    assert rmc.satellites is None
    # empty or impossible figures are left out; the position is still good
    odd = feed.interpret(sentence("GNRMC,123521.00,A,3351.000,S,15112.000,E,,400.0,991399,,,A").strip())
    assert (odd.speed_mps, odd.heading_deg, odd.gps_time) == (None, None, None)
    assert odd.location.lat == pytest.approx(SYDNEY.lat)
    endless = feed.interpret(sentence("GPGGA,123519,4807.038,N,01131.000,E,1,inf,0.9,545.4,M,46.9,M,,").strip())
    assert endless.satellites is None
