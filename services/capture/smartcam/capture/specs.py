"""Parsing of the one-line SMARTCAM_SOURCE and SMARTCAM_LOCATION forms into typed specs.

Kept free of any I/O so settings validation can use it and every bad value is reported at start-up,
with the valid forms listed, before a camera or GPS is touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

SOURCE_FORMS = (
    "replay:<folder, image file or glob> (e.g. replay:/opt/smartcam/photos)",
    "picamera2[:<camera number>] (Raspberry Pi camera, e.g. picamera2 or picamera2:1)",
)
LOCATION_FORMS = (
    "empty or none (no location)",
    "fixed:<lat>,<lon> (e.g. fixed:52.5200,13.4050)",
    "gpsd[:<host>[:<port>]] (default localhost:2947, e.g. gpsd:gpsd:2947)",
    "nmea:<serial device>[@<baud>] (default 9600 baud, e.g. nmea:/dev/ttyUSB0@4800)",
)
DEFAULT_GPSD_HOST = "localhost"
DEFAULT_GPSD_PORT = 2947
DEFAULT_NMEA_BAUD = 9600


@dataclass(frozen=True)
class ReplaySpec:
    pattern: str


@dataclass(frozen=True)
class Picamera2Spec:
    camera_number: int = 0


SourceSpec = ReplaySpec | Picamera2Spec


@dataclass(frozen=True)
class NoLocationSpec:
    pass


@dataclass(frozen=True)
class FixedSpec:
    lat: float
    lon: float


@dataclass(frozen=True)
class GpsdSpec:
    host: str = DEFAULT_GPSD_HOST
    port: int = DEFAULT_GPSD_PORT


@dataclass(frozen=True)
class NmeaSpec:
    device: Path
    baud: int = DEFAULT_NMEA_BAUD


LocationSpec = NoLocationSpec | FixedSpec | GpsdSpec | NmeaSpec


def _forms(forms: tuple[str, ...]) -> str:
    return "use one of: " + "; ".join(forms)


def parse_source(text: str) -> SourceSpec:
    """Turn `replay:...` / `picamera2[:n]` into a spec, or raise ValueError listing the valid forms."""
    kind, _, argument = text.strip().partition(":")
    if kind == "replay":
        if not argument.strip():
            raise ValueError(f"replay needs a folder, file or glob after 'replay:'; {_forms(SOURCE_FORMS)}")
        return ReplaySpec(argument.strip())
    if kind == "picamera2":
        if not argument:
            return Picamera2Spec()
        if not argument.isdigit():
            raise ValueError(f"camera number {argument!r} is not a whole number >= 0; e.g. picamera2:0")
        return Picamera2Spec(int(argument))
    raise ValueError(f"unknown source {kind!r}; {_forms(SOURCE_FORMS)}")


def _parse_port(text: str, what: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{what} {text!r} is not a port number 1..65535")
    return int(text)


def _parse_fixed(argument: str) -> FixedSpec:
    try:
        lat_text, lon_text = argument.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise ValueError(f"{argument!r} is not '<lat>,<lon>' in decimal degrees, e.g. fixed:52.5200,13.4050") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{argument!r} is out of range: latitude must be -90..90 and longitude -180..180")
    return FixedSpec(lat, lon)


def _parse_gpsd(argument: str) -> GpsdSpec:
    if not argument:
        return GpsdSpec()
    host, _, port = argument.rpartition(":") if ":" in argument else (argument, "", "")
    host = host.strip("[]") or DEFAULT_GPSD_HOST  # allows [::1]:2947
    return GpsdSpec(host, _parse_port(port, "gpsd port") if port else DEFAULT_GPSD_PORT)


def _parse_nmea(argument: str) -> NmeaSpec:
    device, _, baud = argument.partition("@")
    if not device.startswith("/"):
        raise ValueError(f"nmea needs an absolute serial device path, e.g. nmea:/dev/ttyUSB0@9600 (got {argument!r})")
    if not baud:
        return NmeaSpec(Path(device))
    if not baud.isdigit() or int(baud) <= 0:
        raise ValueError(f"baud rate {baud!r} is not a positive whole number, e.g. nmea:{device}@9600")
    return NmeaSpec(Path(device), int(baud))


def parse_location(text: str) -> LocationSpec:
    """Turn the SMARTCAM_LOCATION form into a spec, or raise ValueError listing the valid forms."""
    text = text.strip()
    if text in ("", "none"):
        return NoLocationSpec()
    kind, _, argument = text.partition(":")
    if kind == "fixed":
        return _parse_fixed(argument)
    if kind == "gpsd":
        return _parse_gpsd(argument)
    if kind == "nmea":
        return _parse_nmea(argument)
    raise ValueError(f"unknown location provider {kind!r}; {_forms(LOCATION_FORMS)}")
