"""Upload windows per event class: outside its window an event waits (counted as held back), then goes."""

import dataclasses
import json
import logging
from datetime import UTC, datetime

import pytest

from smartcam.common.contracts.event import CAMERA_HEALTH_LABEL_PREFIX
from smartcam.common.settings import SettingsError
from smartcam.common.wire import Detection
from smartcam.infer.camera_health import Change
from smartcam.uploader.windows import UploadWindows, parse_windows

from .conftest import damage_stored_event, delivered
from .test_published_schemas import assert_valid


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    """The wall clock the upload windows are judged by, set by the test (cron windows open on the minute)."""

    def __init__(self, text):
        self.now = at(text)

    def __call__(self):
        return self.now


def test_windows_parse_per_class_and_a_class_not_named_is_always_open():
    windows = UploadWindows(parse_windows(" samples=0 1 * * * for 7200 ; camera_health=30 6 * * 1-5;"))
    assert windows.closed(at("2026-01-01T00:59:59")) == {"samples", "camera_health"}
    assert windows.closed(at("2026-01-01T01:00:00")) == {"camera_health"}
    assert windows.closed(at("2026-01-01T02:59:59")) == {"camera_health"}  # open 7200 s
    assert windows.closed(at("2026-01-01T06:30:00")) == {"samples"}  # a Thursday; open the default 3600 s
    assert windows.closed(at("2026-01-03T06:30:00")) == {"samples", "camera_health"}  # a Saturday
    assert windows.next_opening("samples", at("2026-01-01T03:00:00")) == at("2026-01-02T01:00:00")
    assert windows.next_opening("detections", at("2026-01-01T03:00:00")) is None
    assert not UploadWindows(parse_windows("")).any


@pytest.mark.parametrize(("value", "message"), [
    ("samples=0 0 31 2 *", r"samples: '0 0 31 2 \*' never matches"),
    ("samples=every night", "samples: 'every night' is not a five-field cron expression"),
    ("bulk=0 1 * * *", "'bulk=0 1 \\* \\* \\*' is not `class=cron \\[for seconds\\]` with a class of detections, "
                       "samples, camera_health"),
    ("0 1 * * *", "is not `class=cron"),
    ("samples=", "samples has no cron expression"),
    ("samples=0 1 * * * for ever", "samples: 'ever' is not a length in seconds"),
    ("samples=0 1 * * * for 10", "samples: a window open 10 s"),
    ("samples=0 1 * * *; samples=0 2 * * *", "samples has two windows"),
])
def test_a_window_that_cannot_work_is_refused_at_start_naming_the_setting(make_settings, monkeypatch, value,
                                                                          message):
    monkeypatch.setenv("SMARTCAM_UPLOAD_WINDOWS", value)
    with pytest.raises(SettingsError, match=f"SMARTCAM_UPLOAD_WINDOWS=.*{message}"):
        make_settings()


def test_the_uploader_knows_camera_health_events_as_infer_labels_them():
    for change in (Change("dark", cleared=False), Change("dark", cleared=True)):
        assert change.label.startswith(CAMERA_HEALTH_LABEL_PREFIX)


def _mixed(make_event):
    def store(queue):
        queue.put(make_event(0, sample=True))
        queue.put(make_event(1))
        covered = Detection("camera_health:dark", 1.0, (0.0, 0.0, 1.0, 1.0))  # as infer raises it
        queue.put(dataclasses.replace(make_event(2), detections=[covered]))
        queue.put(make_event(3, sample=True))
    return store


def test_outside_their_window_events_wait_counted_as_held_back_and_go_when_it_opens(target, start_delivery,
                                                                                     make_event, wait_until, caplog):
    caplog.set_level(logging.INFO, logger="smartcam.test")
    clock = Clock("2026-01-01T00:30:00")  # samples go from 01:00 for an hour, camera health from 00:00
    queue, _ = start_delivery(target.url, before=_mixed(make_event), clock=clock, heartbeat=True,
                              heartbeat_url="/heartbeat", heartbeat_interval_s=0.3,
                              upload_windows="samples=0 1 * * *; camera_health=0 0 * * *")
    assert wait_until(delivered(queue, 2))
    assert target.ids() == ["evt-1", "evt-2"]  # the detection and the camera-health event: their windows are open

    def held_reports():
        return [json.loads(beat.body)["data_budget"] for beat in target.heartbeats()]

    # Heartbeats are never windowed; they report the samples held back, by reason.
    assert wait_until(lambda: any(r["held_back_by_reason"] == {"window_samples": 2} for r in held_reports()))
    assert [r["held_back"] for r in held_reports() if r["held_back_by_reason"]][-1] == 2
    assert_valid("heartbeat.schema.json", json.loads(target.heartbeats()[-1].body))
    assert queue.figures().queued == 2
    said = [record.getMessage() for record in caplog.records]
    assert [m for m in said if "wait for their upload window" in m] == [
        "samples wait for their upload window (SMARTCAM_UPLOAD_WINDOWS), which opens next at 2026-01-01 01:00 UTC "
        "(nothing is dropped; heartbeats still go) (first of its kind; further ones are only counted as "
        "delivery.held.window_samples)"]  # once, however many steps found them waiting

    clock.now = at("2026-01-01T01:00:00")  # the samples' window opens, camera health's has closed
    assert wait_until(delivered(queue, 4))
    assert target.ids() == ["evt-1", "evt-2", "evt-0", "evt-3"]
    assert wait_until(lambda: held_reports()[-1]["held_back_by_reason"] == {})
    assert "the upload window of samples is open: they go now" in [record.getMessage() for record in caplog.records]


def test_a_windowed_class_still_counts_under_the_disk_budget(target, start_delivery, make_event, wait_until):
    clock = Clock("2026-01-01T00:30:00")

    def store(queue):
        for n in range(4):
            queue.put(make_event(n, sample=True))

    budget_mb = 3.5 * len(make_event(0).image) / 1024 / 1024  # room for three images and a half
    queue, _ = start_delivery(target.url, before=store, clock=clock, queue_budget_mb=budget_mb,
                              upload_windows="samples=0 1 * * *")
    queue.put(make_event(9))  # a detection: goes at once, no window
    assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-9"]
    evicted = queue.figures().evicted
    assert evicted == {"over_budget_sample": 2}  # the oldest samples made room, counted by reason
    clock.now = at("2026-01-01T01:00:00")
    assert wait_until(delivered(queue, 3))
    assert target.ids() == ["evt-9", "evt-2", "evt-3"]


def test_a_damaged_stored_description_does_not_stop_windowed_delivery(target, start_delivery, make_event,
                                                                      wait_until, tmp_path):
    def store(queue):
        for n in range(3):
            queue.put(make_event(n))
        damage_stored_event(queue.directory, "evt-1", "metadata = '{not json'")

    queue, _ = start_delivery(target.url, before=store, clock=Clock("2026-01-01T00:30:00"),
                              upload_windows="camera_health=0 1 * * *")
    assert wait_until(delivered(queue, 2))
    assert target.ids() == ["evt-0", "evt-2"]
    [letter] = queue.snapshot().dead_letters  # the damaged one: kept, with its reason, not blocking the rest
    assert (letter.event_id, "not a JSON object" in letter.reason) == ("evt-1", True)
