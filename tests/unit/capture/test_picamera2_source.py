import importlib.util

import numpy as np
import pytest

from smartcam.capture.sources import LORES, MAIN, SourceError, StreamConfig, open_source
from smartcam.capture.sources.picamera2_source import BUFFER_COUNT, Picamera2Source

from .fake_picamera2 import CAMERA_INFO, FakePicamera2, luma, scene_rgb


@pytest.fixture
def camera_class():
    """A fresh stand-in class per test (class attributes switch behaviour like different Pi models)."""
    fake = type("Picamera2", (FakePicamera2,), {"instances": [], "cameras": [CAMERA_INFO]})
    return fake


def started(camera_class, pixel_format="RGB24", frame_size=(1280, 720), lores_size=None, camera_number=0):
    source = Picamera2Source(camera_number, StreamConfig(15.0, frame_size, lores_size, pixel_format), camera_class)
    source.open()
    return source


def test_configures_a_video_stream_with_rate_size_and_format(camera_class):
    started(camera_class)
    camera = camera_class.instances[0]
    (config,) = camera.configure_calls
    assert config["main"] == {"format": "BGR888", "size": (1280, 720)}  # BGR888 is R,G,B in memory
    assert config["lores"] is None
    assert config["controls"]["FrameRate"] == 15.0
    assert config["buffer_count"] == BUFFER_COUNT
    assert camera.started


def test_rgb24_frames_have_the_scene_in_rgb_order_packed(camera_class):
    frame = started(camera_class).read()
    main = frame.streams[MAIN]
    assert main.pixel_format == "RGB24"
    assert main.array.flags.c_contiguous  # picamera2's padded rows were dropped
    np.testing.assert_array_equal(main.array, scene_rgb(1280, 720))
    assert camera_class.instances[0].capture_names == [[MAIN]]


def test_bgr24_uses_picamera2_rgb888_which_is_bgr_in_memory(camera_class):
    source = started(camera_class, "BGR24")
    assert camera_class.instances[0].configure_calls[0]["main"]["format"] == "RGB888"
    main = source.read().main
    assert main.pixel_format == "BGR24"
    np.testing.assert_array_equal(main.array, scene_rgb(1280, 720)[..., ::-1])


def test_gray8_is_the_y_plane_of_a_yuv420_stream(camera_class):
    source = started(camera_class, "GRAY8", frame_size=(640, 480))
    assert camera_class.instances[0].configure_calls[0]["main"]["format"] == "YUV420"
    main = source.read().main
    assert main.pixel_format == "GRAY8"
    np.testing.assert_array_equal(main.array, luma(scene_rgb(640, 480)))


def test_lores_in_the_main_format_where_the_isp_allows_it(camera_class):
    frame = started(camera_class, lores_size=(320, 240)).read()
    config = camera_class.instances[0].configure_calls[0]
    assert config["lores"] == {"format": "BGR888", "size": (320, 240)}
    assert list(frame.streams) == [MAIN, LORES]
    assert frame.streams[LORES].pixel_format == "RGB24"
    np.testing.assert_array_equal(frame.streams[LORES].array, scene_rgb(320, 240))
    assert camera_class.instances[0].capture_names == [[MAIN, LORES]]  # one request: both streams match


def test_lores_falls_back_to_yuv420_gray_on_older_pis(camera_class):
    camera_class.lores_must_be_yuv = True
    frame = started(camera_class, lores_size=(320, 240)).read()
    first, second = camera_class.instances[0].configure_calls
    assert first["lores"]["format"] == "BGR888"
    assert second["lores"] == {"format": "YUV420", "size": (320, 240)}
    lores = frame.streams[LORES]
    assert lores.pixel_format == "GRAY8"
    np.testing.assert_array_equal(lores.array, luma(scene_rgb(320, 240)))
    assert frame.main.pixel_format == "RGB24"


def test_sizes_adjusted_by_align_configuration_are_honoured(camera_class):
    frame = started(camera_class, frame_size=(1000, 700)).read()
    assert frame.main.array.shape == (700, 992, 3)
    assert frame.image_parts()[0].shape == (700, 992, 3)


def test_native_size_leaves_the_size_to_picamera2(camera_class):
    started(camera_class, frame_size=None)
    assert camera_class.instances[0].requested == [{"main": {"format": "BGR888"}, "lores": None}]
    assert camera_class.instances[0].camera_config["main"]["size"] == (1280, 720)


def test_no_camera_is_a_clear_error(camera_class):
    camera_class.cameras = []
    with pytest.raises(SourceError, match=r"SMARTCAM_SOURCE=picamera2:0: found 0 camera\(s\).*cable"):
        started(camera_class)


def test_a_missing_camera_number_is_a_clear_error(camera_class):
    with pytest.raises(SourceError, match=r"picamera2:1: found 1 camera\(s\) \(numbered from 0\)"):
        started(camera_class, camera_number=1)


def test_libcamera_failure_is_a_clear_error_and_releases_the_camera(camera_class):
    camera_class.fail_configure = "Failed to configure camera"
    with pytest.raises(SourceError, match=r"libcamera could not start the camera \(Failed to configure camera\)"):
        started(camera_class)
    assert camera_class.instances[0].closed


def test_capture_failure_names_the_source(camera_class):
    source = started(camera_class)
    camera_class.fail_capture = "Device or resource busy"
    with pytest.raises(SourceError, match="picamera2 camera 0 stopped delivering frames"):
        source.read()


def test_close_stops_and_releases_the_camera(camera_class):
    source = started(camera_class)
    source.close()
    camera = camera_class.instances[0]
    assert not camera.started
    assert camera.closed
    with pytest.raises(SourceError, match="after close"):
        source.read()


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_without_picamera2_installed_the_error_says_how_to_get_it(make_settings):
    with pytest.raises(SourceError, match="python3-picamera2 with apt"):
        open_source(make_settings(source="picamera2"))
