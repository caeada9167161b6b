import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartcam.capture.sources import LORES, MAIN, SourceError, StreamConfig, open_source
from smartcam.capture.sources.replay import ReplaySource, find_photos
from smartcam.common.counters import Counters

from .conftest import PHOTOS

REAL_PHOTOS = sorted(PHOTOS.glob("*.jpg"))
HD = StreamConfig(fps=50.0, frame_size=(1280, 720), lores_size=None, pixel_format="RGB24")


def opened(pattern, config=HD, **options):
    source = ReplaySource(str(pattern), config, **options)
    source.open()
    return source


@pytest.fixture
def one_good_photo(tmp_path):
    shutil.copy(PHOTOS / "chelsea.jpg", tmp_path / "chelsea.jpg")
    return tmp_path


def test_replays_every_real_photo_in_name_order_then_loops(make_settings):
    source = open_source(make_settings(source=f"replay:{PHOTOS}", fps=100))
    try:
        first_round = [source.read() for _ in REAL_PHOTOS]
        again = source.read()
    finally:
        source.close()
    for frame, path in zip(first_round, REAL_PHOTOS, strict=True):
        with Image.open(path) as photo:
            width, height = photo.size
        shape = frame.main.array.shape
        assert shape[1] <= 1280
        assert shape[0] <= 720
        assert (shape[1] == 1280 or shape[0] == 720)
        assert shape[1] / shape[0] == pytest.approx(width / height, rel=0.01)
    assert again.main.array is first_round[0].main.array  # decoded once, served from the cache
    assert [p.name for p in first_round[0].image_parts()] == [MAIN]


def test_frames_are_packed_wire_images_with_a_utc_capture_time():
    source = opened(PHOTOS)
    frame = source.read()
    array = frame.main.array
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert array.ndim == 3
    assert frame.image_parts()[0].nbytes == array.nbytes
    assert frame.buffers() == [array]
    assert frame.captured_at.utcoffset().total_seconds() == 0
    assert not array.flags.writeable  # a consumer cannot scribble on the cached photo


def test_native_size_keeps_each_photo_as_it_is():
    source = opened(PHOTOS / "astronaut.jpg", StreamConfig(50.0, None, None, "RGB24"))
    with Image.open(PHOTOS / "astronaut.jpg") as photo:
        assert source.read().main.array.shape == (photo.height, photo.width, 3)


def test_pixel_formats_match_the_photo(one_good_photo):
    rgb = opened(one_good_photo).read().main
    bgr = opened(one_good_photo, StreamConfig(50.0, (1280, 720), None, "BGR24")).read().main
    gray = opened(one_good_photo, StreamConfig(50.0, (1280, 720), None, "GRAY8")).read().main
    assert (rgb.pixel_format, bgr.pixel_format, gray.pixel_format) == ("RGB24", "BGR24", "GRAY8")
    np.testing.assert_array_equal(bgr.array, rgb.array[..., ::-1])
    assert gray.array.shape == rgb.array.shape[:2]
    expected_gray = np.asarray(Image.fromarray(rgb.array).convert("L"))
    assert np.abs(gray.array.astype(int) - expected_gray).max() <= 1


def test_lores_stream_is_a_smaller_copy_of_the_same_photo(one_good_photo):
    frame = opened(one_good_photo, StreamConfig(50.0, (1280, 720), (320, 240), "RGB24")).read()
    assert list(frame.streams) == [MAIN, LORES]
    lores = frame.streams[LORES].array
    assert lores.shape[0] <= 240
    assert lores.shape[1] <= 320
    main_small = np.asarray(Image.fromarray(frame.main.array).resize((lores.shape[1], lores.shape[0])))
    assert np.abs(main_small.astype(int) - lores).mean() < 8


def test_reads_are_paced_at_the_frame_rate_without_bursts():
    source = opened(PHOTOS, StreamConfig(20.0, (320, 240), None, "RGB24"))
    start = time.monotonic()
    source.read()
    assert time.monotonic() - start < 0.04  # the first frame is due at once (the period is 0.05 s)
    for _ in range(5):
        source.read()
    assert 0.24 <= time.monotonic() - start < 0.6
    time.sleep(0.3)  # a slow consumer ...
    late = time.monotonic()
    source.read()
    source.read()
    assert time.monotonic() - late >= 0.045  # ... gets the next frame at once, then the normal pace again


def test_stop_ends_a_long_pacing_wait():
    stop = threading.Event()
    source = opened(PHOTOS, StreamConfig(0.1, (320, 240), None, "RGB24"), stop=stop)
    source.read()
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    source.read()
    assert time.monotonic() - start < 1.0


def test_missing_folder_names_path_and_fix(tmp_path):
    with pytest.raises(SourceError) as raised:
        opened(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(raised.value)
    assert "does not exist" in str(raised.value)
    assert "SMARTCAM_SOURCE=replay:" in str(raised.value)


def test_folder_without_photos_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(SourceError, match=r"no photos \(.*\.jpg.*\) in the folder"):
        opened(tmp_path)


def test_glob_matching_nothing_is_refused(tmp_path):
    with pytest.raises(SourceError, match=r"no photos .* pattern"):
        opened(tmp_path / "*.png")


def test_glob_selects_photos(one_good_photo):
    shutil.copy(PHOTOS / "coffee.jpg", one_good_photo / "coffee.png.bak")
    assert find_photos(str(one_good_photo / "*")) == [one_good_photo / "chelsea.jpg"]


def test_corrupt_photos_are_skipped_counted_and_logged_once(one_good_photo, caplog):
    (one_good_photo / "a-broken.jpg").write_bytes(b"this is not a jpeg")
    truncated = (PHOTOS / "coffee.jpg").read_bytes()
    (one_good_photo / "b-truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    counters = Counters()
    with caplog.at_level(logging.WARNING):
        source = opened(one_good_photo, counters=counters)
    assert len(source.photos) == 1
    assert counters.get("replay.skipped.corrupt") == 2
    warnings = [r.getMessage() for r in caplog.records if "skipping photo" in r.getMessage()]
    assert len(warnings) == 1
    assert "a-broken.jpg" in warnings[0]
    assert "replace or remove" in warnings[0]


def test_fails_only_when_no_photo_is_usable(tmp_path):
    (tmp_path / "one.jpg").write_bytes(b"junk")
    (tmp_path / "two.png").write_bytes(b"more junk")
    with pytest.raises(SourceError, match=r"none of the 2 photo\(s\) .* could be read"):
        opened(tmp_path)


NOBODY = 65534


def _open_without_root(pattern: Path) -> str:
    """Open the source in a forked child running as an ordinary user, as in a container: root reads everything.

    Returns the SourceError message ("" if it opened).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        message = "child failed"
        try:
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            ReplaySource(str(pattern), StreamConfig(1.0, (64, 64), None, "RGB24")).open()
            message = ""
        except SourceError as error:
            message = str(error)
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


@pytest.fixture
def world_visible_dir():
    folder = Path(tempfile.mkdtemp(prefix="smartcam-replay-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_unreadable_folder_names_path_and_fix(world_visible_dir):
    photos = world_visible_dir / "photos"
    photos.mkdir()
    shutil.copy(PHOTOS / "chelsea.jpg", photos)
    photos.chmod(0o700)
    message = _open_without_root(photos)
    assert f"replay folder {photos} is not readable" in message
    assert "chmod" in message


def test_unreadable_photo_is_skipped_and_the_rest_replayed(world_visible_dir):
    shutil.copy(PHOTOS / "chelsea.jpg", world_visible_dir / "a.jpg")
    (world_visible_dir / "a.jpg").chmod(0o600)
    message = _open_without_root(world_visible_dir)
    assert "none of the 1 photo(s)" in message  # the only photo was skipped as unreadable, not crashed on
