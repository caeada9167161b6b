"""The heartbeat's `pipeline`, `gps` and clock GPS offset, from the status files capture and infer write.

The files are written with the services' own writer (`StatusWriter`) into folders laid out as compose
mounts them for the uploader (`<mount>/capture/status.json`, `<mount>/infer/status.json`).
"""

import json
import logging

import pytest

from smartcam.common.contracts.heartbeat import ClockState
from smartcam.common.contracts.pipeline_status import CaptureStatus, GpsStatus, InferStatus
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.status_file import StatusWriter
from smartcam.uploader.board import BoardPaths, BoardReader
from smartcam.uploader.heartbeat import Heartbeat
from smartcam.uploader.queue import EventQueue

NOW = 1_800_000_000.0
UNSYNCHRONISED = ClockState(synchronised=False, source=None, max_error_s=16.0)


def gps(**fields):
    values = {"source": "gpsd at gpsd:2947", "fix": True, "fix_age_s": 0.4, "speed_mps": 12.5, "heading_deg": 271.0,
              "satellites": 9, "gps_clock_offset_s": 3.25, "gps_time_age_s": 0.4}
    return GpsStatus(**{**values, **fields})


def capture_doc(written_at=NOW - 1, **fields):
    values = {"written_at": written_at, "fps": 2.0, "frames_captured": 120, "frames_sent": 100, "frames_dropped": 20,
              "gps": gps()}
    return CaptureStatus(**{**values, **fields})


def infer_doc(written_at=NOW - 1, **fields):
    values = {"written_at": written_at, "fps": 1.5, "frames_inferred": 95, "frames_dropped": 5, "events_sent": 7,
              "events_unacknowledged": 2, "camera_health": ["dark"]}
    return InferStatus(**{**values, **fields})


@pytest.fixture
def mount(tmp_path):
    return tmp_path / "pipeline"


@pytest.fixture
def write(mount, logger):
    def write_(service, document):
        StatusWriter(mount / service, lambda _now: document, logger, Counters()).maybe_write()

    return write_


@pytest.fixture
def beat(make_settings, mount, logger, tmp_path):
    """Builds heartbeat documents at NOW; returns (build, counters)."""
    counters = Counters()
    settings = make_settings(pipeline_status_mount=mount, cmds_mount=tmp_path / "none",
                             updater_dir=tmp_path / "none", checkout_mount=tmp_path / "none")
    queue = EventQueue(settings.queue_dir, settings.queue_budget_bytes, logger, clock=lambda: NOW)
    clock = lambda: NOW  # noqa: E731
    board = BoardReader(OncePerKind(logger, counters, "heartbeat"),
                        BoardPaths(tmp_path / "no-thermal", tmp_path / "no-throttled"),
                        clock_state=lambda: UNSYNCHRONISED)
    heartbeat = Heartbeat(settings, queue, queue.errors, logger, counters, clock=clock, monotonic=clock, board=board)
    yield heartbeat.build, counters
    queue.close()


def test_figures_from_both_services_fill_pipeline_gps_and_the_clock_offset(beat, write):
    build, _ = beat
    write("capture", capture_doc())
    write("infer", infer_doc())
    document = build()
    assert document["pipeline"] == {
        "capture_fps": 2.0, "infer_fps": 1.5, "frames_dropped": 25, "unacknowledged_events": 0,
        "capture_frames_dropped": 20, "infer_frames_dropped": 5, "events_sent": 7, "infer_unacknowledged_events": 2,
        "camera_health": ["dark"], "capture_status_age_s": 1.0, "infer_status_age_s": 1.0, "stale": []}
    # the fix's age as of now: its age when capture wrote the file plus the file's age
    assert document["gps"] == {"fix_age_s": 1.4, "speed_mps": 12.5, "heading_deg": 271.0, "satellites": 9,
                               "fix": True, "source": "gpsd at gpsd:2947"}
    assert document["platform"]["clock"] == {"synchronised": False, "source": None, "max_error_s": 16.0,
                                             "gps_offset_s": 3.25}
    assert document["problems"] == []
    json.dumps(document)


def test_without_status_files_every_figure_is_null_and_nothing_is_a_problem(beat):
    build, counters = beat
    document = build()
    assert document["pipeline"]["capture_fps"] is None
    assert document["pipeline"]["events_sent"] is None
    assert set(document["gps"].values()) == {None}
    assert document["platform"]["clock"]["gps_offset_s"] is None
    assert document["problems"] == []
    assert not [name for name in counters.snapshot() if name.startswith("heartbeat.")]


def test_a_fixed_location_or_no_fix_gives_no_gps_figures_or_offset(beat, write):
    build, _ = beat
    write("capture", capture_doc(gps=None))  # SMARTCAM_LOCATION empty or fixed: not a GPS
    document = build()
    assert set(document["gps"].values()) == {None}
    write("capture", capture_doc(gps=gps(fix=False, fix_age_s=300.0, speed_mps=None, heading_deg=None,
                                         satellites=None)))
    document = build()
    assert document["gps"]["fix"] is False
    assert document["gps"]["fix_age_s"] == 301.0  # how long the device has been without one
    assert document["platform"]["clock"]["gps_offset_s"] is None  # an offset is only reported with a fix


def test_a_stale_document_is_named_with_its_age_and_its_rates_are_null(beat, write):
    build, _ = beat
    write("capture", capture_doc(written_at=NOW - 95))  # capture stopped 95 s ago
    write("infer", infer_doc(written_at=NOW - 95, stale_after_s=120.0))  # a writer that may be quiet longer
    document = build()
    pipeline = document["pipeline"]
    assert pipeline["stale"] == ["capture"]
    assert (pipeline["capture_status_age_s"], pipeline["capture_fps"], pipeline["capture_frames_dropped"]) == (
        95.0, None, 20)  # its counters are its last word; its rate is not a rate any more
    assert pipeline["infer_fps"] == 1.5
    assert document["gps"]["fix"] is False
    assert (document["gps"]["speed_mps"], document["gps"]["satellites"]) == (None, None)
    assert document["gps"]["fix_age_s"] == 95.4
    assert document["platform"]["clock"]["gps_offset_s"] is None


@pytest.mark.parametrize(("content", "kind", "named"), [
    (b"{half a docu", "unreadable", "is not JSON"),
    (b'{"service": "capture", "written_at": "yesterday"}', "unreadable", "not a valid CaptureStatus"),
    (b"x" * 20_000, "unreadable", "larger than"),
    (json.dumps({**capture_doc().model_dump(mode="json"), "version": 2}).encode(), "newer", "written by a newer"),
])
def test_a_malformed_or_newer_document_is_null_with_one_warning_and_counted(beat, write, mount, caplog, content,
                                                                             kind, named):
    build, counters = beat
    write("infer", infer_doc())
    (mount / "capture").mkdir(parents=True, exist_ok=True)
    (mount / "capture" / "status.json").write_bytes(content)
    with caplog.at_level(logging.WARNING):
        first, second = build(), build()
    for document in (first, second):
        assert document["pipeline"]["capture_fps"] is None
        assert document["pipeline"]["frames_dropped"] is None  # needs both
        assert document["pipeline"]["infer_fps"] == 1.5  # the other service's figures are unaffected
        assert set(document["gps"].values()) == {None}
        [problem] = document["problems"]
        assert named in problem
        assert "capture/status.json" in problem
    warnings = [r.getMessage() for r in caplog.records if "capture/status.json" in r.getMessage()]
    assert len(warnings) == 1
    assert counters.get(f"heartbeat.capture_{kind}") == 2
