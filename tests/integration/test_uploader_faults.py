"""Store-and-forward under real faults: every event infer produced is delivered or accounted for, by event id.

Each test runs the real stack (capture replaying fast -> infer -> uploader) against a scriptable
HTTP target in its own container, breaks something for real, lets it recover, then audits (see
`faults_stack.FaultStack.audit`): received == delivered + queued + dead_letter + evicted, every
event id accounted for with its reason, one Idempotency-Key per event, the uploader still running.
"""

import itertools
import json
import os
from collections import Counter

import pytest
from jsonschema import Draft202012Validator

from smartcam.cmds.status import write_status as write_cmds_status
from smartcam.common.contracts.cmds_status import CmdsStatus, LedgerReport
from smartcam.common.history import UpdateHistory, UpdateRecord
from smartcam.updater.state import RunningService, write_state
from tests.integration.faults_stack import FaultStack
from tests.integration.harness import REPO

MANIFEST = json.loads((REPO / "services/infer/models/blazeface-short-range/manifest.json").read_text())


@pytest.fixture
def fault_stack(images, tmp_path):
    stacks = []

    def make(settings=None, override=None):
        stack = FaultStack(tmp_path / f"stack{len(stacks)}", settings or {}, override)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stack.down()


def gaps(records):
    """Seconds between consecutive requests."""
    return [b["arrived"] - a["arrived"] for a, b in itertools.pairwise(records)]


def test_503_with_and_without_retry_after_then_200_with_evictions_over_budget(fault_stack):
    # A budget of about a dozen images: the outage overflows it, so the oldest are evicted, counted.
    faults = fault_stack({"SMARTCAM_QUEUE_BUDGET_MB": "0.25", "SMARTCAM_BASELINE_EVERY_N": "4"})
    faults.behave(status=503, retry_after=2)
    faults.up()
    faults.wait_for(lambda: len([r for r in faults.event_records() if r["status"] == 503]) >= 4, 60,
                    "four refused attempts with Retry-After")
    with_retry_after = faults.event_records()
    faults.behave(status=503)
    faults.wait_for(lambda: len(faults.event_records()) >= len(with_retry_after) + 4, 30,
                    "four refused attempts without Retry-After")
    faults.wait_for(lambda: sum(faults.status()["evicted"].values()) >= 1, 60, "an eviction over the budget")
    faults.behave()
    faults.settle()
    audit = faults.audit()

    # Retry-After is honoured: no retry came sooner than the server asked (2 s).
    assert min(gaps(with_retry_after)) >= 1.9, gaps(with_retry_after)
    assert audit.dead_letter == {}
    assert set(audit.evicted.values()) <= {"over_budget_sample", "over_budget_detection"}, audit.evicted
    assert audit.status["evicted"] == dict(Counter(audit.evicted.values()))
    assert len(audit.delivered) + len(audit.evicted) == audit.produced
    # Every refused attempt was retried and counted (evicted events' attempts included).
    refused = [r for r in audit.records if r["kind"] == "event" and r["status"] == 503]
    assert audit.status["retried"] >= len(refused) >= 8
    # Evicted events were never delivered, and no event was delivered before its earlier 503s.
    assert not set(audit.evicted) & {r["key"] for r in audit.records if r["status"] == 200}


def test_unreachable_by_network_cut_then_target_stopped_while_events_keep_coming(fault_stack):
    faults = fault_stack()
    faults.up()
    faults.wait_for_events(3)
    uploader, egress = faults.container("uploader"), faults.network("egress")

    faults.docker("network", "disconnect", egress, uploader)
    cut_at = faults.status()["received"]
    faults.wait_for_events(cut_at + 8)
    seen_during_cut = len(faults.records())
    assert faults.status()["queued"] >= 5
    faults.docker("network", "connect", egress, uploader)
    faults.wait_for(lambda: faults.status()["delivered"] >= cut_at + 8, 60, "the backlog delivered after the cut")
    assert seen_during_cut < len(faults.records())

    faults.stack.run("stop", "-t", "2", "target")
    stopped_at = faults.status()["received"]
    faults.wait_for_events(stopped_at + 8)
    assert faults.status()["queued"] >= 5
    faults.stack.run("start", "target")
    faults.settle()
    audit = faults.audit()

    assert (audit.dead_letter, audit.evicted) == ({}, {})
    assert len(audit.delivered) == audit.produced
    assert faults.restarts("uploader") == 0


def test_uploader_killed_with_sigkill_mid_burst_restarts_and_loses_nothing(fault_stack):
    faults = fault_stack()
    faults.behave(delay_s=0.4)  # slow answers keep a request in flight and a backlog queued
    faults.up()
    faults.wait_for(lambda: faults.status()["delivered"] >= 3, 60, "the first deliveries")
    before = faults.status()
    faults.crash("uploader")
    faults.wait_for(lambda: faults.restarts("uploader") >= 1 and faults.running("uploader"), 60,
                    "Docker to restart the killed uploader")
    faults.wait_for_events(before["received"] + 5)
    faults.behave()
    faults.settle()
    audit = faults.audit()

    assert (audit.dead_letter, audit.evicted) == ({}, {})
    assert len(audit.delivered) == audit.produced
    assert audit.status["received"] > before["received"]


def test_target_slower_than_the_read_timeout_gets_each_event_again_under_the_same_key(fault_stack):
    faults = fault_stack({"SMARTCAM_READ_TIMEOUT_S": "1"})
    faults.behave(delay_s=2.5)
    faults.up()
    faults.wait_for(lambda: len(faults.event_records()) >= 4, 60, "four attempts that time out")
    faults.behave()
    faults.settle()
    audit = faults.audit()

    assert (audit.dead_letter, audit.evicted) == ({}, {})
    assert len(audit.delivered) == audit.produced
    timed_out = {r["key"] for r in audit.records[:4] if r["kind"] == "event"}
    assert timed_out
    for key in timed_out:
        assert len(audit.attempts(key)) >= 2  # resent after the timeout ...
        assert key in audit.delivered  # ... and delivered, under the one key


def test_full_queue_volume_refuses_new_events_then_recovers_them_all(fault_stack):
    # A 2 MB tmpfs holds a few full-size images; the budget is far larger, so the disk fills first.
    override = {
        "services": {"uploader": {"volumes": ["small-queue:/var/lib/smartcam/queue"]}},
        "volumes": {"small-queue": {"driver_opts": {"type": "tmpfs", "device": "tmpfs",
                                                    "o": "size=2m,uid=10001,gid=10001,mode=0750"}}},
    }
    faults = fault_stack({"SMARTCAM_JPEG_MAX_SIZE": "0", "SMARTCAM_QUEUE_BUDGET_MB": "64"}, override)
    faults.behave(status=503)
    faults.up()
    # The queue's own events stop at the headroom: new ones are refused, infer keeps them.
    faults.wait_for(lambda: faults.status()["refused"] >= 3, 60, "the full queue refusing events")
    # Then something else takes every last byte (real ENOSPC): deliveries must still be recorded.
    filled = faults.stack.run("exec", "-T", "uploader", "sh", "-c", "cat /dev/zero > /var/lib/smartcam/queue/filler",
                              check=False)
    assert "No space left" in filled.stderr, filled.stderr
    assert faults.status()["disk_free_bytes"] < 64 * 1024
    assert faults.running("uploader")
    stored = faults.status()
    faults.wait_for(lambda: faults.status()["refused"] > stored["refused"], 30, "infer's resends refused")
    faults.behave()
    # Deliveries are recorded on the completely full disk (the queue's reserve makes room for that).
    faults.wait_for(lambda: faults.status()["delivered"] >= stored["received"], 30,
                    "the stored events delivered on the full disk")
    refused = faults.status()["refused"]
    faults.stack.run("exec", "-T", "uploader", "rm", "/var/lib/smartcam/queue/filler")  # the operator frees space
    faults.settle(timeout_s=60)
    audit = faults.audit()

    assert (audit.dead_letter, audit.evicted) == ({}, {})
    assert len(audit.delivered) == audit.produced  # refused events were resent by infer, stored and delivered
    assert audit.status["refused"] >= refused
    assert faults.restarts("uploader") == 0


def test_one_event_answered_400_is_dead_lettered_and_the_rest_delivered(fault_stack, tmp_path):
    # The host's cmds results and the updater's files, written by their writers and mounted as compose mounts
    # them, for the heartbeat.
    cmds, updater = tmp_path / "cmds", tmp_path / "updater"
    cmds.mkdir()
    updater.mkdir()
    cmds_status = CmdsStatus(updated_at=1_800_000_000.0, channel="itest", source="file:///custom_cmds",
                             ledger=LedgerReport(loaded_from="new"), counters={"entries_done": 1})
    write_cmds_status(cmds / "status.json", cmds_status)
    history = UpdateHistory(updater / "history.json")
    history.append(UpdateRecord("service", "infer", "sha256:beef", "sha256:feed", "updated", "healthcheck passed"))
    write_state(updater / "state.json", {"infer": RunningService("smartcam/infer:itest", "sha256:feed", "1.1")})
    override = {"services": {"uploader": {"volumes": [f"{cmds}:/var/lib/smartcam/cmds:ro",
                                                      f"{updater}:/var/lib/smartcam/updater:ro"]}}}
    faults = fault_stack({}, override)
    faults.behave(reject_one_event=True)
    faults.up()
    faults.wait_for_events(6)
    faults.settle()
    audit = faults.audit()

    assert list(audit.dead_letter.values()) == [400]
    [rejected] = audit.dead_letter
    assert len(audit.attempts(rejected)) == 1  # a 400 is final: not retried
    assert audit.evicted == {}
    assert len(audit.delivered) == audit.produced - 1
    assert audit.status["dead_letter"] == 1

    heartbeat = [r["heartbeat"] for r in audit.records if r["kind"] == "heartbeat" and r["status"] == 200][-1]
    assert heartbeat["camera_id"] == os.environ.get("SMARTCAM_CAMERA_ID", "smartcam-demo")
    assert heartbeat["versions"]["uploader"]["version"] == os.environ.get("SMARTCAM_VERSION", "dev")  # the image's
    assert heartbeat["versions"]["infer"] == {"image": "smartcam/infer:itest", "digest": "sha256:feed",
                                              "version": "1.1"}
    assert heartbeat["model"] == {"name": MANIFEST["name"], "sha256": MANIFEST["sha256"]}  # from infer's events
    assert heartbeat["cmds"] == cmds_status.model_dump(mode="json")
    assert [(r["target"], r["to_ref"]) for r in heartbeat["updates"]] == [("infer", "sha256:feed")]
    assert heartbeat["problems"] == []
    schema = json.loads((REPO / "docs/schemas/heartbeat.schema.json").read_text())
    assert [error.message for error in Draft202012Validator(schema).iter_errors(heartbeat)] == []
    assert heartbeat["counts"]["dead_lettered"] == 1
