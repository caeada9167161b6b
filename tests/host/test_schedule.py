from datetime import UTC, datetime

from smartcam.cmds.entries import parse
from smartcam.cmds.ledger import Record
from smartcam.cmds.schedule import Action, decide

HOUR = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def entry(line: str):
    (parsed,) = parse(line).entries
    return parsed


def record(last_due: float, state: str = "done") -> Record:
    return Record("x", 1, last_due, state, last_due)


def test_epoch_waits_until_due_then_runs_once():
    one_shot = entry(f"{int(at('2026-06-01T03:00:00'))} @ true")
    assert decide(one_shot, None, at("2026-06-01T02:59:59"), HOUR).action is Action.WAIT
    run = decide(one_shot, None, at("2026-06-01T03:00:00"), HOUR)
    assert (run.action, run.due) == (Action.RUN, at("2026-06-01T03:00:00"))
    assert decide(one_shot, record(run.due), at("2026-06-01T03:10:00"), HOUR).action is Action.WAIT


def test_epoch_missed_while_off_runs_within_the_window_and_is_skipped_beyond_it():
    one_shot = entry(f"{int(at('2026-06-01T03:00:00'))} @ true")
    assert decide(one_shot, None, at("2026-06-01T03:59:00"), HOUR).action is Action.RUN
    assert decide(one_shot, None, at("2026-06-01T04:00:01"), HOUR).action is Action.SKIP_STALE


def test_new_cron_entry_counts_from_first_sight_and_does_not_run_past_times():
    daily = entry("0 3 * * * @ true")
    first = decide(daily, None, at("2026-06-01T03:30:00"), HOUR)
    assert (first.action, first.due) == (Action.BASELINE, at("2026-06-01T03:30:00"))
    assert decide(daily, record(first.due, "baseline"), at("2026-06-02T02:59:00"), HOUR).action is Action.WAIT
    due = decide(daily, record(first.due, "baseline"), at("2026-06-02T03:00:00"), HOUR)
    assert (due.action, due.due, due.missed) == (Action.RUN, at("2026-06-02T03:00:00"), 0)


def test_cron_times_missed_while_off_collapse_into_one_run_of_the_latest():
    daily = entry("0 3 * * * @ true")
    back = decide(daily, record(at("2026-06-01T03:00:00")), at("2026-06-05T03:20:00"), HOUR)
    assert (back.action, back.due, back.missed) == (Action.RUN, at("2026-06-05T03:00:00"), 3)
    late = decide(daily, record(at("2026-06-01T03:00:00")), at("2026-06-05T09:00:00"), HOUR)
    assert (late.action, late.due, late.missed) == (Action.SKIP_STALE, at("2026-06-05T03:00:00"), 3)


def test_cron_is_evaluated_in_utc():
    daily = entry("0 3 * * * @ true")
    due = decide(daily, record(at("2026-06-01T00:00:00")), at("2026-06-01T03:00:30"), HOUR)
    assert due.due == at("2026-06-01T03:00:00")


def test_clock_back_rebases_a_cron_entry_to_now_and_keeps_the_future_time_as_high_water():
    every_ten = entry("*/10 * * * * @ true")
    ahead = record(at("2027-06-01T03:00:00"))
    back = decide(every_ten, ahead, at("2026-06-01T03:05:00"), HOUR)
    assert (back.action, back.due, back.high_water) == (Action.REBASE, at("2026-06-01T03:05:00"),
                                                        at("2027-06-01T03:00:00"))
    rebased = Record("x", 1, back.due, "done", back.due, None, back.high_water)
    due = decide(every_ten, rebased, at("2026-06-01T03:10:00"), HOUR)
    assert (due.action, due.due, due.high_water) == (Action.RUN, at("2026-06-01T03:10:00"), at("2027-06-01T03:00:00"))
    past_it = Record("x", 1, at("2027-06-01T02:50:00"), "done", 0, None, at("2027-06-01T03:00:00"))
    assert decide(every_ten, past_it, at("2027-06-01T03:05:00"), HOUR).action is Action.WAIT
    assert decide(every_ten, past_it, at("2027-06-01T03:10:00"), HOUR).high_water is None


def test_a_one_shot_without_record_due_before_a_lost_ledger_is_skipped_not_run():
    one_shot = entry(f"{int(at('2026-06-01T03:00:00'))} @ true")
    lost = at("2026-06-01T03:10:00")
    assert decide(one_shot, None, at("2026-06-01T03:20:00"), HOUR, lost).action is Action.SKIP_LOST
    assert decide(one_shot, None, at("2026-06-01T03:20:00"), HOUR, at("2026-06-01T02:00:00")).action is Action.RUN
