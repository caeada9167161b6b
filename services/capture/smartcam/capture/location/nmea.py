"""`nmea:<device>[@baud]`: positions from a GPS receiver's NMEA 0183 sentences on a serial port.

pyserial reads the port, pynmea2 parses and checksums sentences; GGA (fix quality > 0) and RMC
(status A) carry the position, every other well-formed sentence is ignored. GGA also says how many
satellites are used; RMC the speed (knots, converted to m/s), the course and the fix's date and time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pynmea2
import serial

from smartcam.capture.location.feed import (
    MAX_LINE_BYTES,
    POLL_S,
    GarbageLineError,
    GpsFix,
    Reading,
    Report,
    finite_or_none,
    valid_location,
)

KNOT_MPS = 1852 / 3600


class SerialConnection:
    """Assembles lines from a serial port whose reads time out every POLL_S."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._pending = b""

    def read_line(self) -> bytes | None:
        data = self._port.readline()  # SerialException (an OSError) when the device goes away
        if not data:
            return None
        self._pending += data
        if not self._pending.endswith(b"\n") and len(self._pending) <= MAX_LINE_BYTES:
            return None
        line, self._pending = self._pending, b""
        return line.strip()

    def close(self) -> None:
        self._port.close()


def _has_fix(sentence: pynmea2.NMEASentence) -> bool | None:
    """True/False for GGA and RMC sentences, None for sentence types that say nothing about a fix."""
    if isinstance(sentence, pynmea2.GGA):
        return str(sentence.gps_qual) not in ("", "0")
    if isinstance(sentence, pynmea2.RMC):
        return str(sentence.status) == "A"
    return None


class NmeaFeed:
    def __init__(self, device: Path, baud: int) -> None:
        self.device, self.baud = device, baud
        self.description = f"NMEA GPS on {device} at {baud} baud"

    def connect(self) -> SerialConnection:
        try:
            port = serial.Serial(str(self.device), baudrate=self.baud, timeout=POLL_S)
        except ValueError as error:  # e.g. a baud rate the port refuses
            raise OSError(str(error)) from None
        return SerialConnection(port)

    def interpret(self, line: bytes) -> Reading:
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            raise GarbageLineError("not ASCII (wrong baud rate?)") from None
        if not text:
            return Report.IGNORED
        try:
            sentence = pynmea2.parse(text, check=True)
        except pynmea2.SentenceTypeError:
            return Report.IGNORED  # well-formed and checksummed, just a type we do not use
        except pynmea2.ParseError as error:
            raise GarbageLineError(f"not a valid NMEA sentence: {error.args[0]}") from None
        has_fix = _has_fix(sentence)
        if has_fix is None:
            return Report.IGNORED
        if not has_fix:
            return Report.NO_FIX
        if not (sentence.lat and sentence.lon):  # pynmea2 would turn empty fields into 0.0, 0.0
            raise GarbageLineError(f"{sentence.sentence_type} claims a fix without coordinates")
        location = valid_location(sentence.latitude, sentence.longitude)
        if location is None:
            raise GarbageLineError(f"{sentence.sentence_type} with out-of-range coordinates")
        if isinstance(sentence, pynmea2.GGA):
            satellites = finite_or_none(_number(sentence.num_sats), 0, 1000)
            return GpsFix(location, satellites=None if satellites is None else int(satellites))
        knots = _number(sentence.spd_over_grnd)
        return GpsFix(location, speed_mps=None if knots is None else finite_or_none(knots * KNOT_MPS, 0, 1000),
                      heading_deg=finite_or_none(_number(sentence.true_course), 0, 360),
                      gps_time=_rmc_time(sentence))


def _number(value: object) -> float | None:
    """An optional numeric field as pynmea2 gives it (a number, a numeric string, '' or None)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _rmc_time(sentence: pynmea2.RMC) -> datetime | None:
    """The fix's UTC date and time (RMC carries both), or None when a field is empty or impossible."""
    day, moment = sentence.datestamp, sentence.timestamp  # pynmea2 leaves an unparseable field as its text
    if not isinstance(day, date) or not isinstance(moment, time):
        return None
    return datetime.combine(day, moment).replace(tzinfo=UTC)
