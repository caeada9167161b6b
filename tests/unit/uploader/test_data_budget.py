"""The data budget, seen from a real HTTP target: never exceeded per period, nothing dropped, heartbeats go."""

import itertools
import json
import math
import time

import pytest

from smartcam.common.settings import SettingsError
from smartcam.uploader.data_budget import DAILY, SPENT_FACT, Allowance, DataBudget, FixedPeriods
from smartcam.uploader.queue import EventQueue

from .conftest import backlog, delivered, wire_bytes_seen

BUDGET_BYTES = 5000  # about two events of ~2 kB on the wire
BUDGET_MB = BUDGET_BYTES / 1024 / 1024


def test_the_budget_holds_per_period_and_held_back_events_go_when_it_renews(target, start_delivery, make_event,
                                                                            wait_until):
    period = 2.0
    wall_offset = time.time() - time.monotonic()
    # The target stamps a request once read; start just after a boundary, so none is booked at one period's
    # end and stamped in the next (later ones go right after a renewal, far from the next boundary).
    time.sleep(period - time.time() % period + 0.05)
    queue, _ = start_delivery(target.url, before=backlog(make_event, 5), daily_budget_mb=BUDGET_MB,
                              budget_period_s=period)
    assert wait_until(delivered(queue, 5), timeout_s=15)  # all of them: held back, never dropped
    assert target.ids() == [f"evt-{n}" for n in range(5)]  # each sent once, in order
    by_period = itertools.groupby(target.event_requests(), key=lambda r: math.floor((r.at + wall_offset) / period))
    spent = [sum(wire_bytes_seen(request) for request in requests) for _, requests in by_period]
    assert len(spent) >= 3  # the budget renewed at least twice
    assert max(spent) <= BUDGET_BYTES, spent


def test_heartbeats_go_while_events_are_held_back(target, start_delivery, make_event, wait_until):
    queue, _ = start_delivery(target.url, before=backlog(make_event, 4), daily_budget_mb=BUDGET_MB,
                              heartbeat=True, heartbeat_url="/heartbeat", heartbeat_interval_s=0.5)
    assert wait_until(delivered(queue, 2))
    held_since = len(target.heartbeats())
    assert wait_until(lambda: len(target.heartbeats()) >= held_since + 2, timeout_s=8)
    assert queue.figures().delivered == 2
    assert queue.figures().queued == 2  # waiting for tomorrow, not dropped
    report = json.loads(target.heartbeats()[-1].body)["data_budget"]
    assert report["limit_bytes"] == int(BUDGET_MB * 1024 * 1024)
    assert report["held_back"] == 2
    events_sent = sum(wire_bytes_seen(request) for request in target.event_requests())
    assert report["used_bytes"] > events_sent  # the events and the heartbeats before this one, as on the wire
    assert report["remaining_bytes"] == max(0, report["limit_bytes"] - report["used_bytes"])
    assert 0 < report["renews_in_s"] <= 86400


def test_without_a_budget_the_heartbeat_reports_the_bytes_sent_and_nothing_held(target, start_delivery, make_event,
                                                                                 wait_until):
    queue, _ = start_delivery(target.url, before=backlog(make_event, 2), heartbeat=True,
                              heartbeat_url="/heartbeat", heartbeat_interval_s=0.3)
    assert wait_until(lambda: queue.figures().delivered == 2 and len(target.heartbeats()) >= 2)
    report = json.loads(target.heartbeats()[-1].body)["data_budget"]
    assert (report["limit_bytes"], report["remaining_bytes"], report["held_back"]) == (None, None, 0)
    assert report["used_bytes"] >= sum(wire_bytes_seen(request) for request in target.event_requests())


def test_an_event_larger_than_the_whole_budget_is_dead_lettered_not_blocking_the_rest(target, start_delivery,
                                                                                      make_event, wait_until):
    huge = b"\xff\xd8" + bytes(8000) + b"\xff\xd9"

    def store(queue):
        queue.put(make_event(1, image=huge))
        queue.put(make_event(2))

    queue, _ = start_delivery(target.url, before=store, daily_budget_mb=BUDGET_MB)
    assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-2"]
    [letter] = queue.snapshot().dead_letters
    assert letter.event_id == "evt-1"
    assert "SMARTCAM_DAILY_BUDGET_MB" in letter.reason


def _daily(limit, period_s, store):
    return Allowance(DAILY, "SMARTCAM_DAILY_BUDGET_MB", limit, periods=FixedPeriods(period_s), fact=SPENT_FACT,
                     store=store)


def test_the_spent_bytes_survive_a_restart_and_renew_with_the_period(tmp_path, logger, counters):
    now = [1_000_000.0]
    queue = EventQueue(tmp_path / "queue", 10**9, logger, counters)
    try:
        budget = DataBudget(_daily(6000, 100.0, queue), clock=lambda: now[0])
        assert budget.try_spend(4000)
        assert not budget.try_spend(2500)
        budget.spend(3000)  # a heartbeat: always
        again = DataBudget(_daily(6000, 100.0, queue), clock=lambda: now[0])  # the service restarted
        assert again.spent() == 7000
        assert not again.try_spend(1)
        now[0] += 100.0
        assert again.seconds_to_renewal() == 100.0
        assert again.try_spend(6000)
        queue.set_fact(SPENT_FACT, json.dumps({"period": "x"}))  # damaged: that period starts afresh
        assert DataBudget(_daily(6000, 100.0, queue), clock=lambda: now[0]).spent() == 0
    finally:
        queue.close()


@pytest.mark.parametrize(("variables", "named"), [
    ({"SMARTCAM_DAILY_BUDGET_MB": "lots"}, "SMARTCAM_DAILY_BUDGET_MB"),
    ({"SMARTCAM_DAILY_BUDGET_MB": "-1"}, "SMARTCAM_DAILY_BUDGET_MB"),
    ({"SMARTCAM_DAILY_BUDGET_MB": "0.001"}, "SMARTCAM_DAILY_BUDGET_MB='0.001'.*cannot carry one event"),
    ({"SMARTCAM_BUDGET_PERIOD_S": "0"}, "SMARTCAM_BUDGET_PERIOD_S"),
    ({"SMARTCAM_BUDGET_PERIOD_S": "a day"}, "SMARTCAM_BUDGET_PERIOD_S"),
    ({"SMARTCAM_DAILY_BUDGET_MB": "100", "SMARTCAM_UPLOAD_RATE_BPS": "1000"},
     "SMARTCAM_DAILY_BUDGET_MB='100'.*SMARTCAM_UPLOAD_RATE_BPS=1000 cannot send that much"),
])
def test_malformed_or_contradictory_budget_settings_name_the_setting(make_settings, monkeypatch, variables, named):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        make_settings()


def _samples_then_detections(make_event):
    def store(queue):  # two baseline samples captured before two detections
        for n, sample in [(0, True), (1, True), (2, False), (3, False)]:
            queue.put(make_event(n, sample=sample))
    return store


@pytest.mark.parametrize(("constraint", "order"), [
    ({"daily_budget_mb": BUDGET_MB, "budget_period_s": 2.0}, ["evt-2", "evt-3", "evt-0", "evt-1"]),
    ({"upload_rate_bps": 20000}, ["evt-2", "evt-3", "evt-0", "evt-1"]),
    ({}, ["evt-0", "evt-1", "evt-2", "evt-3"]),  # an unconstrained link: capture order
])
def test_a_constrained_link_sends_detections_before_baseline_samples(target, start_delivery, make_event, wait_until,
                                                                     constraint, order):
    queue, _ = start_delivery(target.url, before=_samples_then_detections(make_event), **constraint)
    assert wait_until(delivered(queue, 4), timeout_s=15)
    assert target.ids() == order
