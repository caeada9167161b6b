"""`gpsd[:host[:port]]`: positions from gpsd over its JSON protocol (TCP, default port 2947).

Speaks the small protocol by hand: send `?WATCH={"enable":true,"json":true}`, then read one JSON
report per line and use TPV reports (mode >= 2 carries lat/lon; `speed`, `track` and `time` go
along when present) and SKY reports (satellites used: `uSat`, else those flagged `used`). Written here
rather than using gpsdclient because that client ends its stream on a read timeout or one malformed line, while this
reader must idle through a silent gpsd and count bad lines without reconnecting.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

from smartcam.capture.location.feed import (
    MAX_LINE_BYTES,
    POLL_S,
    GarbageLineError,
    GpsFix,
    Reading,
    Report,
    Satellites,
    finite_or_none,
    valid_location,
)

WATCH_COMMAND = b'?WATCH={"enable":true,"json":true}\n'
CONNECT_TIMEOUT_S = 3.0
MIN_FIX_MODE = 2  # TPV mode: 0 unknown, 1 no fix, 2 2D fix, 3 3D fix


class GpsdConnection:
    """Splits gpsd's byte stream into lines, waking every POLL_S so the reader can stop."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def read_line(self) -> bytes | None:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                line, self._buffer = self._buffer, b""
                return line  # an endless "line" is garbage; interpret() rejects it
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("gpsd closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.strip()

    def close(self) -> None:
        self._sock.close()


class GpsdFeed:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.description = f"gpsd at {host}:{port}"

    def connect(self) -> GpsdConnection:
        sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.sendall(WATCH_COMMAND)
            sock.settimeout(POLL_S)
        except OSError:
            sock.close()
            raise
        return GpsdConnection(sock)

    def interpret(self, line: bytes) -> Reading:
        if not line:
            return Report.IGNORED
        try:
            report = json.loads(line)
        except ValueError:  # includes UnicodeDecodeError
            raise GarbageLineError("not a JSON report") from None
        if not isinstance(report, dict) or not isinstance(report.get("class"), str):
            raise GarbageLineError("JSON without a report class")
        if report["class"] == "SKY":
            return _satellites(report)
        if report["class"] != "TPV":
            return Report.IGNORED
        mode = report.get("mode", 0)
        if not isinstance(mode, int) or mode < MIN_FIX_MODE or "lat" not in report or "lon" not in report:
            return Report.NO_FIX
        location = valid_location(report["lat"], report["lon"])
        if location is None:
            raise GarbageLineError("TPV with invalid lat/lon")
        return GpsFix(location, speed_mps=finite_or_none(report.get("speed"), 0, 1000),
                      heading_deg=finite_or_none(report.get("track"), 0, 360), gps_time=_time(report.get("time")))


def _satellites(report: dict[str, object]) -> Reading:
    """SKY: `uSat` (gpsd 3.20+), else the satellites flagged `used`; IGNORED when it says neither."""
    used = report.get("uSat")
    if isinstance(used, int) and not isinstance(used, bool) and used >= 0:
        return Satellites(used)
    listed = report.get("satellites")
    if isinstance(listed, list):
        return Satellites(sum(1 for item in listed if isinstance(item, dict) and item.get("used") is True))
    return Report.IGNORED


def _time(value: object) -> datetime | None:
    """TPV `time` (ISO-8601 UTC, e.g. 2026-11-27T03:30:15.000Z), or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a year-9999 time with an offset
        return None
