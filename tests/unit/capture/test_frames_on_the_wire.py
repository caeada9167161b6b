import logging

import numpy as np
import pytest

from smartcam.capture.sources import LORES, MAIN, StreamConfig
from smartcam.capture.sources.picamera2_source import Picamera2Source
from smartcam.capture.sources.replay import ReplaySource
from smartcam.common.ring import RingReader, RingWriter
from smartcam.common.wire import Frame, Location, decode, encode

from .conftest import PHOTOS
from .fake_picamera2 import FakePicamera2


@pytest.fixture(params=["tcp", "ring"])
def round_trip(request, tmp_path):
    """Capture's frame as infer receives it: pixels over ZeroMQ, or through a real ring file."""

    def send(images):
        frame = Frame("cam-1", 7, images.captured_at, Location(1.0, 2.0), images.image_parts(), images.buffers())
        if request.param == "ring":
            frame = RingWriter(tmp_path / "frames.ring", logging.getLogger("smartcam.test")).put(frame)
        received = decode([bytes(memoryview(part)) for part in encode(frame)])
        return RingReader(tmp_path / "frames.ring").attach(received) if request.param == "ring" else received

    return send


def test_replayed_frames_decode_unchanged_on_the_other_side(round_trip):
    source = ReplaySource(str(PHOTOS), StreamConfig(50.0, (640, 480), (160, 120), "BGR24"))
    source.open()
    images = source.read()
    received = round_trip(images)
    assert [p.name for p in received.parts] == [MAIN, LORES]
    np.testing.assert_array_equal(received.image(MAIN), images.main.array)
    np.testing.assert_array_equal(received.image(LORES), images.streams[LORES].array)


def test_camera_frames_with_gray_lores_decode_unchanged(round_trip):
    camera_class = type("Picamera2", (FakePicamera2,), {"instances": [], "lores_must_be_yuv": True})
    source = Picamera2Source(0, StreamConfig(10.0, (640, 480), (320, 240), "RGB24"), camera_class)
    source.open()
    images = source.read()
    received = round_trip(images)
    assert [(p.name, p.pixel_format, p.shape) for p in received.parts] == [
        (MAIN, "RGB24", (480, 640, 3)), (LORES, "GRAY8", (240, 320))]
    np.testing.assert_array_equal(received.image(LORES), images.streams[LORES].array)
