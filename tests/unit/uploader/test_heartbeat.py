"""The heartbeat against a real HTTP server: its content, only the newest kept, and never ahead of waiting events."""

import json

import pytest

from smartcam.common.contracts.base import write_document
from smartcam.common.contracts.checkout_status import CheckoutStatus, HeadOutcome, write_status
from smartcam.common.contracts.cmds_status import CmdsStatus, EntryResult, LedgerReport
from smartcam.common.counters import Counters
from smartcam.uploader import status
from smartcam.uploader.heartbeat import KIND, Heartbeat
from smartcam.uploader.host_files import HISTORY_KEPT, read_host_facts
from smartcam.uploader.queue import EventQueue
from smartcam.uploader.target import resolve_heartbeat_target, resolve_target

from .conftest import Reply


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def host_dirs(tmp_path):
    cmds, updater, checkout = tmp_path / "cmds", tmp_path / "updater", tmp_path / "checkout"
    for folder in (cmds, updater, checkout, tmp_path / "pipeline"):
        folder.mkdir()
    return cmds, updater, checkout


@pytest.fixture
def make_heartbeat(make_settings, logger, host_dirs):
    queues = []

    def make(clock=None, **overrides):
        cmds, updater, checkout = host_dirs
        settings = make_settings(cmds_mount=cmds, updater_dir=updater, checkout_mount=checkout,
                                 pipeline_status_mount=cmds.parent / "pipeline", version="1.2.3",
                                 channel="devrelease", heartbeat_interval_s=60, **overrides)
        clock = clock or Clock()
        queue = EventQueue(settings.queue_dir, settings.queue_budget_bytes, logger, clock=clock)
        queues.append(queue)
        heartbeat = Heartbeat(settings, queue, queue.errors, logger, Counters(), clock=clock, monotonic=clock)
        return settings, queue, heartbeat

    yield make
    for queue in queues:
        queue.close()


def test_heartbeat_reports_versions_model_queue_counts_cmds_and_update_history(make_heartbeat, host_dirs,
                                                                              make_event):
    cmds, updater, checkout = host_dirs
    cmds_status = CmdsStatus(updated_at=6.0, channel="devrelease", source="https://cmds.example/custom_cmds",
                             ledger=LedgerReport(loaded_from="ledger"), counters={"entries_done": 1},
                             recent=[EntryResult(line=1, entry="@reboot reboot", due=3.0, state="done",
                                                 updated_at=3.5, result={"commands": [], "not_run": []})])
    write_document(cmds / "status.json", cmds_status)
    write_status(checkout, CheckoutStatus(updated_at=5.0, channel="devrelease", repo="git://lab/smartcam.git",
                                          commit="ab" * 20, applied_at=4.0, state="rolled_back",
                                          head=HeadOutcome(commit="cd" * 20, state="rolled_back", at=4.5,
                                                           reason="the stack did not become healthy")))
    # As the updater of the previous release wrote it: a bare list, no version (read as version 1).
    history = [{"kind": "model", "target": f"face-{n}", "from_ref": None, "to_ref": f"{n:064x}", "result": "updated",
                "reason": "accepted", "at": "2026-11-27T03:30:15Z"} for n in range(HISTORY_KEPT + 5)]
    (updater / "history.json").write_text(json.dumps(history))
    (updater / "state.json").write_text(json.dumps({
        "services": {"infer": {"image": "smartcam/infer:release", "digest": "sha256:aa", "version": "1.2.2",
                               "ignored": "x"}},
        "model": {"name": "old", "sha256": "11" * 32},
        "pending": [{"kind": "service", "target": "capture", "to_ref": "sha256:bb", "reason": "waiting for the "
                     "update window (SMARTCAM_UPDATE_WINDOW)", "opens_at": "2026-11-28T02:00:00Z"}]}))
    _, queue, heartbeat = make_heartbeat()
    queue.put(make_event(1))
    queue.put(make_event(2, sample=True))
    [item] = queue.claim(1)
    queue.mark_delivered(item.event_id)
    queue.errors.add("target answered 503")

    document = heartbeat.build()

    assert document["type"] == "heartbeat"
    assert document["camera_id"] == "cam-1"
    assert document["channel"] == "devrelease"
    assert document["heartbeat_id"].startswith("hb-cam-1-")
    assert document["versions"] == {"infer": {"image": "smartcam/infer:release", "digest": "sha256:aa",
                                              "version": "1.2.2"},
                                    "uploader": {"image": None, "digest": None, "version": "1.2.3"}}
    assert document["model"] == {"name": "blazeface", "sha256": "ab" * 32}  # the latest event's, not state.json's
    assert document["queue"]["queued"] == 1
    assert document["counts"] == {"received": 2, "delivered": 1, "retried": 0, "evicted": {}, "dead_lettered": 0,
                                  "refused": 0, "duplicates": 0}
    assert document["disk"]["free_bytes"] > 0
    assert [e["error"] for e in document["last_errors"]] == ["target answered 503"]
    assert document["cmds"] == cmds_status.model_dump(mode="json")
    assert document["updates"] == history[-HISTORY_KEPT:]
    assert document["checkout"]["commit"] == "ab" * 20
    assert document["checkout"]["state"] == "rolled_back"
    assert document["checkout"]["head"]["commit"] == "cd" * 20
    assert "did not become healthy" in document["checkout"]["head"]["reason"]
    assert document["problems"] == []
    assert document["pending_updates"] == [{"kind": "service", "target": "capture", "to_ref": "sha256:bb",
                                            "reason": "waiting for the update window (SMARTCAM_UPDATE_WINDOW)",
                                            "opens_at": "2026-11-28T02:00:00Z"}]
    # No status file from capture or infer (test_pipeline_figures has them): null; the queue is the uploader's own.
    assert document["pipeline"]["unacknowledged_events"] == 1
    assert {key for key, value in document["pipeline"].items() if value is not None} == {
        "unacknowledged_events", "stale"}
    assert set(document["gps"].values()) == {None}
    assert set(document["platform"]) == {"soc_temperature_c", "thermal_zone", "throttling", "clock"}
    json.dumps(document)  # it goes on the wire as JSON


def test_absent_or_damaged_host_files_are_tolerated_and_named(host_dirs):
    cmds, updater, checkout = host_dirs
    facts = read_host_facts(cmds / "status.json", updater, checkout)
    assert (facts.cmds, facts.updates, facts.services, facts.model, facts.checkout, facts.problems) == (
        None, None, {}, None, None, [])
    (cmds / "status.json").write_text("{not json")
    (updater / "history.json").write_text('{"not": "a list"}')
    (checkout / "status.json").write_text('{"commit": 5}')
    facts = read_host_facts(cmds / "status.json", updater, checkout)
    assert facts.cmds is None
    assert facts.updates is None
    assert facts.checkout is None
    assert len(facts.problems) == 3
    assert str(checkout / "status.json") in facts.problems[0]
    assert str(cmds / "status.json") in facts.problems[1]
    assert "history.json" in facts.problems[2]


def test_only_the_newest_unsent_heartbeat_is_kept(make_heartbeat):
    clock = Clock()
    _, queue, heartbeat = make_heartbeat(clock)
    heartbeat.store_if_due()
    first = queue.pending_message(KIND)
    clock.now += 30
    heartbeat.store_if_due()  # not due yet
    assert queue.pending_message(KIND) == first
    clock.now += 31
    heartbeat.store_if_due()
    newest = queue.pending_message(KIND)
    assert newest.message_id != first.message_id
    figures = queue.figures().counters
    assert (figures["heartbeats_created"], figures["heartbeats_replaced_unsent"]) == (2, 1)
    queue.message_done(KIND, first.message_id, "heartbeats_sent")  # an old answer does not drop the newest
    assert queue.pending_message(KIND) == newest


def test_heartbeat_waits_while_events_wait_until_it_is_a_full_interval_old(make_heartbeat):
    clock = Clock()
    _, _, heartbeat = make_heartbeat(clock)
    heartbeat.store_if_due()
    assert heartbeat.ready(events_waiting=True) is None  # events first
    clock.now += 60
    assert heartbeat.ready(events_waiting=True) is not None  # a full interval old: its turn, once ...
    assert heartbeat.ready(events_waiting=True) is None  # ... (not sent) then an event goes before another try
    assert heartbeat.ready(events_waiting=True) is not None
    assert heartbeat.ready(events_waiting=False) is not None  # nothing else to send: any time


@pytest.fixture
def run_deliverer(start_delivery, host_dirs):
    def start(url, **overrides):
        cmds, updater, _ = host_dirs
        queue, _ = start_delivery(url, heartbeat=True, cmds_mount=cmds, updater_dir=updater, **overrides)
        return queue

    return start


def test_heartbeat_is_posted_to_its_path_with_its_own_key(target, run_deliverer, wait_until, make_event):
    queue = run_deliverer(target.url, heartbeat_interval_s=3600)
    assert wait_until(lambda: len(target.heartbeats()) == 1)
    [request] = target.heartbeats()
    document = json.loads(request.body)
    assert request.headers["Idempotency-Key"] == document["heartbeat_id"]
    assert request.headers["Content-Type"] == "application/json"
    assert wait_until(lambda: queue.pending_message(KIND) is None)
    queue.put(make_event(1))
    assert wait_until(lambda: target.delivered_ids() == ["evt-1"])
    assert status.collect(queue.directory)["heartbeats"]["sent"] == 1


def test_a_heartbeat_the_target_refuses_is_dropped_and_events_still_flow(target, run_deliverer, wait_until,
                                                                          make_event):
    target.rule = lambda key: Reply(404) if key and key.startswith("hb-") else None
    queue = run_deliverer(target.url, heartbeat_interval_s=3600)
    queue.put(make_event(1))
    assert wait_until(lambda: target.delivered_ids() == ["evt-1"])
    assert wait_until(lambda: queue.figures().counters.get("heartbeats_rejected") == 1)
    assert queue.pending_message(KIND) is None
    assert queue.figures().dead_letter == 0


def test_heartbeat_url_may_be_relative_or_absolute(make_settings, logger):
    settings = make_settings(upload_url="https://example.org/api/events")
    events = resolve_target(settings, logger)
    assert resolve_heartbeat_target(settings, events).url == "https://example.org/api/heartbeat"
    root = make_settings(upload_url="https://example.org/api/events", heartbeat_url="/status")
    assert resolve_heartbeat_target(root, events).url == "https://example.org/status"
    other = make_settings(upload_url="https://example.org/api/events", heartbeat_url="https://ops.example.org/hb")
    assert resolve_heartbeat_target(other, events).url == "https://ops.example.org/hb"


def test_no_heartbeat_when_turned_off_or_towards_the_demo_sink(make_settings, logger):
    off = make_settings(upload_url="https://example.org/events", heartbeat_interval_s=0)
    assert resolve_heartbeat_target(off, resolve_target(off, logger)) is None
    demo = make_settings()  # no target configured: events go to the demo sink, which takes only events
    assert resolve_heartbeat_target(demo, resolve_target(demo, logger)) is None
