"""A tiny gpsd on 127.0.0.1 speaking gpsd's JSON protocol: VERSION on connect, DEVICES and WATCH after
`?WATCH=...`, then whatever reports the test queues, one JSON object per line."""

from __future__ import annotations

import json
import queue
import socket
import threading

VERSION = {"class": "VERSION", "release": "3.22", "rev": "3.22", "proto_major": 3, "proto_minor": 14}
DEVICES = {"class": "DEVICES", "devices": [{"class": "DEVICE", "path": "/dev/ttyACM0", "driver": "u-blox",
                                            "activated": "2026-11-27T03:00:00.000Z", "native": 1, "bps": 9600}]}
WATCH = {"class": "WATCH", "enable": True, "json": True, "nmea": False, "raw": 0, "scaled": False, "timing": False,
         "split24": False, "pps": False}


def tpv(mode, lat=None, lon=None):
    report = {"class": "TPV", "device": "/dev/ttyACM0", "mode": mode, "time": "2026-11-27T03:40:00.000Z"}
    if lat is not None:
        report.update(lat=lat, lon=lon, alt=34.5, speed=0.0)
    return report


class GpsdServer:
    def __init__(self, port=0):
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.commands: list[bytes] = []
        self._outgoing: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def send(self, report):
        """Queue a report (dict) or a raw line (bytes) for the connected client (lost if it is just leaving)."""
        self._outgoing.put(report if isinstance(report, bytes) else json.dumps(report).encode())

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with client:
                try:
                    self._talk(client)
                except OSError:
                    continue  # the client went away; like gpsd, wait for the next one

    def _talk(self, client):
        client.sendall(json.dumps(VERSION).encode() + b"\n")
        client.settimeout(2)
        command = client.recv(1024)
        self.commands.append(command)
        if not command.startswith(b"?WATCH="):
            return
        client.sendall(json.dumps(DEVICES).encode() + b"\n" + json.dumps(WATCH).encode() + b"\n")
        while not self._stop.is_set():
            try:
                line = self._outgoing.get(timeout=0.05)
            except queue.Empty:
                continue
            client.sendall(line + b"\n")

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()
