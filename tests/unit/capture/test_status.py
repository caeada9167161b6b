"""capture's status document (for the uploader's heartbeat), built from its counters and location provider."""

from smartcam.capture.location import FixedLocation, NoLocation
from smartcam.capture.main import capture_status
from smartcam.common.counters import Counters
from smartcam.common.wire import Location


def test_the_document_carries_the_frame_counters_and_no_gps_without_one():
    counters = Counters()
    counters.inc("frames.captured", 12)
    counters.inc("frames.sent", 9)
    counters.inc("frames.dropped", 3)
    build = capture_status(counters, NoLocation(), fps=2.0)
    document = build(1_800_000_000.0)
    assert (document.frames_captured, document.frames_sent, document.frames_dropped) == (12, 9, 3)
    assert document.fps is None  # one sample is not a rate yet
    assert document.gps is None
    assert document.written_at == 1_800_000_000.0
    assert document.stale_after_s == 30.0
    assert capture_status(counters, FixedLocation(Location(1.0, 2.0)), fps=2.0)(0.0).gps is None  # not a GPS


def test_at_a_low_frame_rate_the_document_is_stale_only_after_three_frame_periods():
    # the loop writes once per frame at most: at one frame every 20 s a 30 s old document is not a dead service
    assert capture_status(Counters(), NoLocation(), fps=0.05)(0.0).stale_after_s == 60.0
