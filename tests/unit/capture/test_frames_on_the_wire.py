import numpy as np

from smartcam.capture.sources import LORES, MAIN, StreamConfig
from smartcam.capture.sources.picamera2_source import Picamera2Source
from smartcam.capture.sources.replay import ReplaySource
from smartcam.common.wire import Frame, Location, decode, encode

from .conftest import PHOTOS
from .fake_picamera2 import FakePicamera2


def round_trip(images):
    frame = Frame("cam-1", 7, images.captured_at, Location(1.0, 2.0), images.image_parts(), images.buffers())
    return decode([bytes(memoryview(part)) for part in encode(frame)])


def test_replayed_frames_decode_unchanged_on_the_other_side():
    source = ReplaySource(str(PHOTOS), StreamConfig(50.0, (640, 480), (160, 120), "BGR24"))
    source.open()
    images = source.read()
    received = round_trip(images)
    assert [p.name for p in received.parts] == [MAIN, LORES]
    np.testing.assert_array_equal(received.image(MAIN), images.main.array)
    np.testing.assert_array_equal(received.image(LORES), images.streams[LORES].array)


def test_camera_frames_with_gray_lores_decode_unchanged():
    camera_class = type("Picamera2", (FakePicamera2,), {"instances": [], "lores_must_be_yuv": True})
    source = Picamera2Source(0, StreamConfig(10.0, (640, 480), (320, 240), "RGB24"), camera_class)
    source.open()
    images = source.read()
    received = round_trip(images)
    assert [(p.name, p.pixel_format, p.shape) for p in received.parts] == [
        (MAIN, "RGB24", (480, 640, 3)), (LORES, "GRAY8", (240, 320))]
    np.testing.assert_array_equal(received.image(LORES), images.streams[LORES].array)
