"""The status writer capture and infer use for the uploader's heartbeat: atomic, at most once a second, never fatal."""

import logging

from smartcam.common.contracts.base import read_document
from smartcam.common.contracts.pipeline_status import InferStatus
from smartcam.common.counters import Counters
from smartcam.common.status_file import RateMeter, StatusWriter


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def document(frames):
    return InferStatus(written_at=1.0, fps=None, frames_inferred=frames, frames_dropped=0, events_sent=0,
                       events_unacknowledged=0, camera_health=None)


def test_the_document_is_rewritten_at_most_once_per_interval(tmp_path, logger):
    clock, built = Clock(), []

    def build(now):
        built.append(now)
        return document(len(built))

    writer = StatusWriter(tmp_path / "status", build, logger, Counters(), monotonic=clock)
    for _ in range(50):  # a loop calling it per frame
        writer.maybe_write()
    assert len(built) == 1
    assert read_document(InferStatus, writer.path).frames_inferred == 1
    clock.now += 0.99
    writer.maybe_write()
    assert len(built) == 1
    clock.now += 0.01
    writer.maybe_write()
    assert read_document(InferStatus, writer.path).frames_inferred == 2
    assert [p.name for p in writer.path.parent.iterdir()] == ["status.json"]  # no temporary files left


def test_a_write_that_fails_warns_once_is_counted_and_recovers(tmp_path, logger, caplog):
    clock, counters = Clock(), Counters()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the volume should be")
    writer = StatusWriter(blocked, lambda _now: document(1), logger, counters, monotonic=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            writer.maybe_write()
            clock.now += 1
    assert counters.get("status_file.write_failed") == 3
    assert len([r for r in caplog.records if "cannot write" in r.getMessage()]) == 1
    blocked.unlink()
    writer.maybe_write()
    assert read_document(InferStatus, writer.path) == document(1)


def test_the_rate_is_per_second_over_the_last_window():
    clock = Clock()
    meter = RateMeter(window_s=10.0, monotonic=clock)
    assert meter.rate(0) is None  # one sample says nothing
    for total in range(2, 41, 2):  # 2 per second for 20 s
        clock.now += 1
        assert meter.rate(total) == 2.0
    for _ in range(10):  # then it stops
        clock.now += 1
        meter.rate(40)
    assert meter.rate(40) == 0.0
