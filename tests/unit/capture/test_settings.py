from pathlib import Path

import pytest

from smartcam.capture.specs import (
    FixedSpec,
    GpsdSpec,
    NmeaSpec,
    NoLocationSpec,
    Picamera2Spec,
    ReplaySpec,
    parse_location,
    parse_source,
)
from smartcam.common.settings import SettingsError


def test_defaults_replay_the_embedded_photos_without_location(make_settings):
    settings = make_settings()
    assert settings.source_spec == ReplaySpec("/opt/smartcam/photos")
    assert settings.location_spec == NoLocationSpec()
    assert (settings.fps, settings.frame_size, settings.lores_size) == (2.0, (1280, 720), None)
    assert settings.pixel_format == "RGB24"
    assert settings.frames_endpoint == "tcp://*:5555"


def test_sizes_of_zero_mean_native_frames_and_no_lores(make_settings):
    settings = make_settings(frame_width=0, frame_height=0, lores_width=0, lores_height=0)
    assert settings.frame_size is None
    assert settings.lores_size is None


def test_lores_and_pixel_format_are_read(make_settings):
    settings = make_settings(lores_width=320, lores_height=240, pixel_format="bgr24")
    assert settings.lores_size == (320, 240)
    assert settings.pixel_format == "BGR24"


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("replay:/data/photos", ReplaySpec("/data/photos")),
        ("replay:/data/*.jpg", ReplaySpec("/data/*.jpg")),
        ("picamera2", Picamera2Spec(0)),
        ("picamera2:1", Picamera2Spec(1)),
    ],
)
def test_source_forms(text, spec):
    assert parse_source(text) == spec


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("", NoLocationSpec()),
        ("none", NoLocationSpec()),
        ("fixed:52.52,13.405", FixedSpec(52.52, 13.405)),
        ("fixed:-33.9,-70.6", FixedSpec(-33.9, -70.6)),
        ("gpsd", GpsdSpec("localhost", 2947)),
        ("gpsd:gps-host", GpsdSpec("gps-host", 2947)),
        ("gpsd:gps-host:3000", GpsdSpec("gps-host", 3000)),
        ("gpsd:[::1]:2947", GpsdSpec("::1", 2947)),
        ("nmea:/dev/ttyUSB0", NmeaSpec(Path("/dev/ttyUSB0"), 9600)),
        ("nmea:/dev/serial0@4800", NmeaSpec(Path("/dev/serial0"), 4800)),
    ],
)
def test_location_forms(text, spec):
    assert parse_location(text) == spec


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"source": "usb:0"}, ["SMARTCAM_SOURCE='usb:0'", "unknown source 'usb'", "replay:", "picamera2"]),
        ({"source": "replay:"}, ["SMARTCAM_SOURCE", "needs a folder"]),
        ({"source": "picamera2:front"}, ["SMARTCAM_SOURCE", "camera number"]),
        ({"location": "gps:/dev/x"}, ["SMARTCAM_LOCATION", "unknown location provider 'gps'", "fixed:", "gpsd",
                                      "nmea:"]),
        ({"location": "fixed:52.5"}, ["SMARTCAM_LOCATION", "'<lat>,<lon>'"]),
        ({"location": "fixed:95,10"}, ["SMARTCAM_LOCATION", "out of range"]),
        ({"location": "gpsd:host:99999"}, ["SMARTCAM_LOCATION", "port"]),
        ({"location": "nmea:ttyUSB0"}, ["SMARTCAM_LOCATION", "absolute serial device path"]),
        ({"location": "nmea:/dev/ttyUSB0@fast"}, ["SMARTCAM_LOCATION", "baud rate"]),
        ({"fps": "0"}, ["SMARTCAM_FPS=", "between"]),
        ({"fps": "often"}, ["SMARTCAM_FPS="]),
        ({"source": "picamera2", "replay_on_demand": "true"}, ["SMARTCAM_REPLAY_ON_DEMAND", "replay sources only",
                                                               "picamera2", "unset it"]),
        ({"pixel_format": "YUYV"}, ["SMARTCAM_PIXEL_FORMAT='YUYV'", "RGB24, BGR24, GRAY8"]),
        ({"frame_width": "8"}, ["SMARTCAM_FRAME_WIDTH='8'", "16..8192"]),
        ({"frame_width": "0"}, ["SMARTCAM_FRAME_HEIGHT", "SMARTCAM_FRAME_WIDTH", "both"]),
        ({"lores_width": "320"}, ["SMARTCAM_LORES_HEIGHT", "SMARTCAM_LORES_WIDTH"]),
        ({"lores_width": "1920", "lores_height": "1080"}, ["SMARTCAM_LORES_HEIGHT", "larger than the main stream"]),
        ({"location_max_age_s": "0"}, ["SMARTCAM_LOCATION_MAX_AGE_S", "at least"]),
        ({"frames_endpoint": "localhost:5555"}, ["SMARTCAM_FRAMES_ENDPOINT", "tcp://*:5555"]),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(make_settings, variables, expected):
    with pytest.raises(SettingsError) as raised:
        make_settings(**variables)
    for fragment in expected:
        assert fragment in str(raised.value)


def test_an_invalid_width_is_reported_once_not_twice(make_settings):
    with pytest.raises(SettingsError) as raised:
        make_settings(frame_width="5")
    assert str(raised.value).count("SMARTCAM_") == 1
