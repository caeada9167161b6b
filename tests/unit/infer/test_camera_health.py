"""Camera health on real photos made dark, frozen, blurred and swapped for another scene."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageFilter

from smartcam.infer.camera_health import CameraHealth, Change, laplacian_variance
from tests.unit.infer.conftest import PHOTOS

AFTER_S = 5.0
SIZE = (640, 480)
Feed = Callable[[int], np.ndarray]
NOT_MEASURED = np.zeros((*SIZE[::-1], 3), np.uint8)  # a frame between two measured ones: never looked at


def _photo(name: str) -> np.ndarray:
    with Image.open(PHOTOS / name) as image:
        return np.asarray(image.convert("RGB").resize(SIZE))


NOISE = [np.random.default_rng(seed).normal(0.0, 3.0, (*SIZE[::-1], 3)) for seed in range(7)]


def _noisy(pixels: np.ndarray, index: int) -> np.ndarray:
    """The photo as a live sensor gives it: a little noise, different in each frame."""
    return np.clip(pixels + NOISE[index % len(NOISE)], 0, 255).astype(np.uint8)


def _monitor() -> CameraHealth:
    return CameraHealth(after_s=AFTER_S, dark_below=0.08, blur_ratio=0.3, scene_min_correlation=0.6,
                        reference_s=10.0)


def _run(monitor: CameraHealth, feed: Feed, start: int, seconds: int) -> list[Change]:
    """One frame every 0.5 s (only one a second is measured) for `seconds` from `start`."""
    changes: list[Change] = []
    for step in range(seconds * 2):
        moment = start + step / 2
        changes += monitor.observe(feed(start + step // 2) if monitor.due(moment) else NOT_MEASURED, moment)
    return changes


def _conditions() -> dict[str, Feed]:
    astronaut = _photo("astronaut.jpg")
    dark = (astronaut * 0.03).astype(np.uint8)
    still = _noisy(astronaut, 12345)
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(6)))
    other = _photo("coffee.jpg")
    return {"dark": lambda i: _noisy(dark, i), "frozen": lambda i: still, "blurred": lambda i: _noisy(blurred, i),
            "scene_changed": lambda i: _noisy(other, i)}


@pytest.mark.parametrize("condition", ["dark", "frozen", "blurred", "scene_changed"])
def test_each_condition_raises_exactly_one_event_and_clears_once(condition):
    healthy = _photo("astronaut.jpg")
    monitor = _monitor()
    assert _run(monitor, lambda i: _noisy(healthy, i), 0, 30) == []  # the healthy camera raises nothing
    assert monitor.has_reference
    assert _run(monitor, _conditions()[condition], 30, 60) == [Change(condition, cleared=False)]  # once, not per frame
    assert monitor.active == [condition]
    assert _run(monitor, lambda i: _noisy(healthy, i), 90, 30) == [Change(condition, cleared=True)]
    assert monitor.active == []


def test_a_condition_shorter_than_the_persistence_raises_nothing():
    healthy = _photo("astronaut.jpg")
    monitor = _monitor()
    _run(monitor, lambda i: _noisy(healthy, i), 0, 30)
    assert _run(monitor, _conditions()["dark"], 30, 3) == []  # headlights, a hand passing the lens
    assert _run(monitor, lambda i: _noisy(healthy, i), 33, 30) == []


def test_no_reference_is_kept_from_a_camera_that_starts_covered():
    healthy = _photo("astronaut.jpg")
    monitor = _monitor()
    assert _run(monitor, _conditions()["dark"], 0, 30) == [Change("dark", cleared=False)]
    assert not monitor.has_reference
    _run(monitor, lambda i: _noisy(healthy, i), 30, 30)
    assert monitor.has_reference  # learnt once the camera saw something


def test_frames_are_measured_once_per_interval_not_each_frame():
    monitor = _monitor()
    healthy = _photo("astronaut.jpg")
    monitor.observe(healthy, 0.0)
    first = monitor.last
    monitor.observe(np.zeros_like(healthy), 0.5)
    assert monitor.last is first
    monitor.observe(np.zeros_like(healthy), 1.0)
    assert monitor.last is not first
    assert monitor.last.brightness == 0.0


def test_sharpness_falls_with_blur():
    image = np.asarray(Image.open(PHOTOS / "rocket.jpg").convert("L"), dtype=np.float64)
    blurred = np.asarray(Image.open(PHOTOS / "rocket.jpg").convert("L").filter(ImageFilter.GaussianBlur(4)),
                         dtype=np.float64)
    assert laplacian_variance(blurred) < 0.2 * laplacian_variance(image)


def test_a_frame_delivered_twice_is_not_a_frozen_camera():
    still = _photo("astronaut.jpg")
    monitor = _monitor()
    changes = [change for second in range(30) for change in monitor.observe(still, float(second), seq=7)]
    assert changes == []
    assert monitor.last is not None
    assert monitor.last.change is None  # measured once; the copies were never compared with it
    frozen = [change for second in range(30, 60) for change in monitor.observe(still, float(second), seq=second)]
    assert frozen == [Change("frozen", cleared=False)]  # new frame numbers, the same pixels: frozen


def test_the_replay_demo_cycling_its_photos_raises_nothing_but_a_moved_camera_still_does():
    """The default replay (the embedded photos, looped at 2 fps, bit for bit) keeps each photo as a reference
    scene, so the demo does not report scene_changed once the reference is kept; a new view still does."""
    cycle = [_photo(path.name) for path in sorted(PHOTOS.glob("*.jpg"))]
    assert len(cycle) == 5
    monitor = _monitor()
    frames = iter(range(10**6))

    def replay(_second: int) -> np.ndarray:
        return cycle[next(frames) % len(cycle)]

    changes: list[Change] = []
    for second in range(120):  # one frame every 0.5 s, as SMARTCAM_FPS=2: every frame advances the replay
        for half in (0.0, 0.5):
            frame = replay(second)
            changes += monitor.observe(frame, second + half)
    assert changes == []
    assert monitor.has_reference
    assert monitor.reference_scenes == len(cycle)
    knocked_over = lambda i: _noisy(np.ascontiguousarray(cycle[0][::-1, ::-1]), i)  # noqa: E731  (upside down)
    assert _run(monitor, knocked_over, 120, 30) == [Change("scene_changed", cleared=False)]


def test_a_fixed_camera_keeps_one_scene_and_a_passing_view_is_not_one():
    healthy = _photo("astronaut.jpg")
    passing = _photo("rocket.jpg")
    monitor = CameraHealth(after_s=AFTER_S, dark_below=0.08, blur_ratio=0.3, scene_min_correlation=0.6,
                           reference_s=40.0)
    feed = lambda i: _noisy(passing if i == 4 else healthy, i)  # noqa: E731  (one second of something else)
    assert _run(monitor, feed, 0, 45) == []
    assert monitor.reference_scenes == 1  # 1 sample in 41 is under MIN_SCENE_SHARE
    moved = np.ascontiguousarray(healthy[::-1, ::-1])  # as sharp as before, but upside down: knocked over
    assert _run(monitor, lambda i: _noisy(moved, i), 45, 30) == [Change("scene_changed", cleared=False)]
