"""`gpsd[:host[:port]]`: positions from gpsd over its JSON protocol (TCP, default port 2947).

Speaks the small protocol by hand: send `?WATCH={"enable":true,"json":true}`, then read one JSON
report per line and use TPV reports (mode >= 2 carries lat/lon). Written here rather than using
gpsdclient because that client ends its stream on a read timeout or one malformed line, while this
reader must idle through a silent gpsd and count bad lines without reconnecting.
"""

from __future__ import annotations

import json
import socket

from smartcam.capture.location.feed import (
    MAX_LINE_BYTES,
    POLL_S,
    GarbageLineError,
    Reading,
    Report,
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
        if report["class"] != "TPV":
            return Report.IGNORED
        mode = report.get("mode", 0)
        if not isinstance(mode, int) or mode < MIN_FIX_MODE or "lat" not in report or "lon" not in report:
            return Report.NO_FIX
        location = valid_location(report["lat"], report["lon"])
        if location is None:
            raise GarbageLineError("TPV with invalid lat/lon")
        return location
