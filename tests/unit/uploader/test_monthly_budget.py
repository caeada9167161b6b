"""The monthly data budget beside the daily one: UTC calendar months, the tighter wins, kept across restarts."""

import itertools
import json
import math
import time
from datetime import UTC, datetime

import pytest

from smartcam.common.settings import SettingsError
from smartcam.uploader.data_budget import (
    DAILY,
    MONTHLY,
    MONTHLY_SPENT_FACT,
    CalendarMonths,
    DataBudget,
)
from smartcam.uploader.queue import EventQueue

from .conftest import backlog, delivered, wire_bytes_seen
from .test_published_schemas import assert_valid

EVENT_BYTES = 2300  # a little more than one test event on the wire (about 2.1 kB)
MB = 1024 * 1024


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("now", "start", "end"), [
    ("2026-01-15T12:00:00", "2026-01-01T00:00:00", "2026-02-01T00:00:00"),
    ("2026-02-28T23:59:59", "2026-02-01T00:00:00", "2026-03-01T00:00:00"),  # 28 days
    ("2028-02-29T00:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),  # a leap year's 29
    ("2026-12-31T23:59:59", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),  # into the next year
    ("2026-03-01T00:00:00", "2026-03-01T00:00:00", "2026-04-01T00:00:00"),  # the first second is the new month
])
def test_months_are_utc_calendar_months(now, start, end):
    months = CalendarMonths()
    assert (months.start(at(now)), months.end(at(now))) == (at(start), at(end))


def test_with_both_budgets_the_tighter_wins_and_the_month_is_kept_across_restarts(make_settings, tmp_path, logger,
                                                                                  counters):
    now = [at("2026-01-29T10:00:00")]
    settings = make_settings(daily_budget_mb=10_000 / MB, monthly_budget_mb=25_000 / MB)
    queue = EventQueue(tmp_path / "q", 10**9, logger, counters)
    try:
        budget = DataBudget.for_settings(settings, queue, clock=lambda: now[0])
        assert budget.try_spend(8000)
        assert not budget.try_spend(4000)  # the day's budget is the tighter today
        assert budget.hold()[0].reason == DAILY
        now[0] = at("2026-01-30T10:00:00")
        assert budget.try_spend(9000)
        budget.spend(5000)  # a heartbeat goes anyway and counts against both
        assert (budget.spent(), budget.spent_this_month()) == (14000, 22000)
        now[0] = at("2026-01-31T10:00:00")
        restarted = DataBudget.for_settings(settings, queue, clock=lambda: now[0])  # the service restarted
        assert (restarted.spent(), restarted.spent_this_month()) == (0, 22000)
        assert not restarted.try_spend(4000)  # a new day does not help: the month is the tighter now
        allowance, renewal_s = restarted.hold()
        assert (allowance.reason, renewal_s) == (MONTHLY, 14 * 3600.0)
        assert restarted.held_reason() == MONTHLY
        now[0] = at("2026-02-01T00:00:00")  # a new day and a new month
        assert restarted.try_spend(9000)
        assert json.loads(queue.fact(MONTHLY_SPENT_FACT)) == {"period": at("2026-02-01T00:00:00"), "bytes": 9000}
    finally:
        queue.close()


def test_the_monthly_budget_holds_events_until_the_month_renews(target, start_delivery, make_event, wait_until):
    day, month = 0.5, 3.0
    wall_offset = time.time() - time.monotonic()
    time.sleep(month - time.time() % month + 0.05)  # start just after a month boundary (see test_data_budget)
    # Two events a day, three a month: the month holds the second day's second event and the rest back.
    queue, _ = start_delivery(target.url, before=backlog(make_event, 5), budget_period_s=day,
                              daily_budget_mb=2 * EVENT_BYTES / MB, monthly_budget_period_s=month,
                              monthly_budget_mb=3 * EVENT_BYTES / MB)
    assert wait_until(delivered(queue, 5), timeout_s=10)  # the next month sends the rest: nothing dropped
    assert target.ids() == [f"evt-{n}" for n in range(5)]
    events = target.event_requests()
    by_month = itertools.groupby(events, key=lambda r: math.floor((r.at + wall_offset) / month))
    assert [len(list(group)) for _, group in by_month] == [3, 2]
    by_day = itertools.groupby(events, key=lambda r: math.floor((r.at + wall_offset) / day))
    assert max(sum(wire_bytes_seen(r) for r in group) for _, group in by_day) <= 2 * EVENT_BYTES


def test_the_heartbeat_reports_the_monthly_budget_and_what_it_holds_back(target, start_delivery, make_event,
                                                                         wait_until):
    start_delivery(target.url, before=backlog(make_event, 5), budget_period_s=0.5,
                   daily_budget_mb=2 * EVENT_BYTES / MB, monthly_budget_period_s=3600,
                   monthly_budget_mb=3 * EVENT_BYTES / MB, heartbeat=True, heartbeat_url="/heartbeat",
                   heartbeat_interval_s=0.3)

    def held_by_the_month():
        documents = [json.loads(beat.body) for beat in target.heartbeats()]
        return [d for d in documents if d["data_budget"]["held_back_by_reason"].get("monthly_budget")]

    assert wait_until(held_by_the_month, timeout_s=8)
    document = held_by_the_month()[-1]
    report = document["data_budget"]
    assert report["held_back_by_reason"] == {"monthly_budget": document["queue"]["queued"]}
    assert report["held_back"] == document["queue"]["queued"] > 0  # waiting, not dropped
    monthly = report["monthly"]
    assert monthly["limit_bytes"] == int(3 * EVENT_BYTES)
    assert monthly["used_bytes"] + EVENT_BYTES > monthly["limit_bytes"]  # no further event fits
    assert monthly["remaining_bytes"] == max(0, monthly["limit_bytes"] - monthly["used_bytes"])
    assert 0 < monthly["renews_in_s"] <= 3600
    assert report["limit_bytes"] == int(2 * EVENT_BYTES)  # the daily figures stay where they were
    assert_valid("heartbeat.schema.json", document)  # as published in docs/schemas


@pytest.mark.parametrize(("variables", "named"), [
    ({"SMARTCAM_MONTHLY_BUDGET_MB": "plenty"}, "SMARTCAM_MONTHLY_BUDGET_MB"),
    ({"SMARTCAM_MONTHLY_BUDGET_MB": "-5"}, "SMARTCAM_MONTHLY_BUDGET_MB"),
    ({"SMARTCAM_MONTHLY_BUDGET_MB": "0.001"}, "SMARTCAM_MONTHLY_BUDGET_MB='0.001'.*cannot carry one event"),
    ({"SMARTCAM_DAILY_BUDGET_MB": "50", "SMARTCAM_MONTHLY_BUDGET_MB": "20"},
     "SMARTCAM_MONTHLY_BUDGET_MB='20'.*below SMARTCAM_DAILY_BUDGET_MB=50"),
    ({"SMARTCAM_MONTHLY_BUDGET_MB": "100000", "SMARTCAM_UPLOAD_RATE_BPS": "1000"},
     "SMARTCAM_MONTHLY_BUDGET_MB='100000'.*SMARTCAM_UPLOAD_RATE_BPS=1000 cannot send that much"),
    ({"SMARTCAM_MONTHLY_BUDGET_PERIOD_S": "-1"}, "SMARTCAM_MONTHLY_BUDGET_PERIOD_S"),
    ({"SMARTCAM_BUDGET_PERIOD_S": "10", "SMARTCAM_MONTHLY_BUDGET_PERIOD_S": "5"},
     "SMARTCAM_MONTHLY_BUDGET_PERIOD_S='5'.*shorter than SMARTCAM_BUDGET_PERIOD_S=10"),
])
def test_malformed_or_contradictory_monthly_settings_name_the_setting(make_settings, monkeypatch, variables, named):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        make_settings()


def test_a_daily_budget_below_the_monthly_one_is_accepted_and_none_means_no_monthly_report(make_settings):
    settings = make_settings(daily_budget_mb=10, monthly_budget_mb=200)
    assert (settings.daily_budget_bytes, settings.monthly_budget_bytes) == (10 * MB, 200 * MB)
    assert make_settings().monthly_budget_bytes == 0
