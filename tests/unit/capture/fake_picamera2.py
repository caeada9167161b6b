"""A stand-in for picamera2.Picamera2 where no camera exists: the real class's method names, signatures
and return shapes, with picamera2's memory layouts (padded rows; "RGB888" stored B,G,R; YUV420 as one
(h*3/2) x stride array). It records what it was asked, so tests can assert the configuration.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

CAMERA_INFO = {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a",
               "Num": 0}


def scene_rgb(width, height):
    """What the sensor 'sees': a gradient that tells rows, columns and channels apart."""
    x = np.arange(width, dtype=np.uint16) % 256
    y = np.arange(height, dtype=np.uint16) % 256
    scene = np.empty((height, width, 3), dtype=np.uint8)
    scene[..., 0] = x[None, :]
    scene[..., 1] = y[:, None]
    scene[..., 2] = 77
    return scene


def luma(rgb):
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.uint8)


def _aligned(value, alignment):
    return (value + alignment - 1) // alignment * alignment


def make_array(stream):
    """The array picamera2's request.make_array returns for one stream, padding included as picamera2 leaves it."""
    width, height = stream["size"]
    scene = scene_rgb(width, height)
    if stream["format"] in ("RGB888", "BGR888"):
        stride = _aligned(width * 3, 64)
        buffer = np.full((height, stride), 0xEE, dtype=np.uint8)
        pixels = scene[..., ::-1] if stream["format"] == "RGB888" else scene  # RGB888 is B,G,R in memory
        buffer[:, : width * 3] = pixels.reshape(height, width * 3)
        return buffer[:, : width * 3].reshape(height, width, 3)  # a padded, non-contiguous view
    if stream["format"] == "YUV420":
        stride = _aligned(width, 64)
        buffer = np.full((height * 3 // 2, stride), 128, dtype=np.uint8)
        buffer[:height, :] = 0xEE  # row padding
        buffer[:height, :width] = luma(scene)
        return buffer
    raise RuntimeError("Format " + stream["format"] + " not supported")


class FakePicamera2:
    cameras: ClassVar[list[dict]] = [CAMERA_INFO]
    lores_must_be_yuv = False  # True behaves like a Pi 4 and older (VC4 ISP)
    fail_configure: str | None = None
    fail_capture: str | None = None
    instances: ClassVar[list[FakePicamera2]] = []

    @classmethod
    def global_camera_info(cls):  # a staticmethod in picamera2; called the same way, on the class
        return [dict(info) for info in cls.cameras]

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        if camera_num >= len(self.cameras):
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.requested = []  # the main/lores arguments of each create_video_configuration call
        self.configure_calls = []
        self.camera_config = None
        self.started = False
        self.closed = False
        self.capture_names = []
        type(self).instances.append(self)

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=None, colour_space=None,  # noqa: B006
                                   buffer_count=6, controls={}, display="main", encode="main", queue=True,  # noqa: B006
                                   sensor={}, use_case="video"):  # noqa: B006
        self.requested.append({"main": dict(main), "lores": None if lores is None else dict(lores)})
        main_stream = {"format": "XBGR8888", "size": (1280, 720), **main}
        lores_stream = None if lores is None else {"format": "YUV420", "size": main_stream["size"], **lores}
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": main_stream, "lores": lores_stream,
                "raw": raw, "controls": {"NoiseReductionMode": 1, "FrameDurationLimits": (33333, 33333), **controls},
                "sensor": sensor, "display": display, "encode": encode}

    def align_configuration(self, config, optimal=True):
        for name in ("main", "lores"):
            stream = config[name]
            if stream is not None:
                width, height = stream["size"]
                stream["size"] = (width - width % (32 if optimal else 16), height)

    def configure(self, camera_config="preview"):
        self.configure_calls.append(camera_config)
        if self.fail_configure:
            raise RuntimeError(self.fail_configure)
        lores = camera_config["lores"]
        if lores is not None:
            main_w, main_h = camera_config["main"]["size"]
            if lores["size"][0] > main_w or lores["size"][1] > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if self.lores_must_be_yuv and lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV")
        self.camera_config = camera_config

    def start(self, config=None, show_preview=False):
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_arrays(self, names=["main"], wait=None, signal_function=None):  # noqa: B006
        if not self.started:
            raise RuntimeError("Camera is not running")
        if self.fail_capture:
            raise RuntimeError(self.fail_capture)
        self.capture_names.append(list(names))
        arrays = [make_array(self.camera_config[name]) for name in names]
        return arrays, {"SensorTimestamp": 1_234_567_890_000, "FrameDuration": 500_000, "ExposureTime": 20_000}

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True
