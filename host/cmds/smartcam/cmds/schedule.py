"""When is an entry due? One decision per entry per poll, from its schedule and its ledger record.

Only the latest due time is ever run: due times missed while the device was off collapse into one
run (if the latest is within the catch-up window) or one logged skip (if it is older).

The clock is not trusted to only move forward (a device without a real-time clock, a bad time source):
- A forward jump cannot be told from a device that was off: it is treated the same way.
- A recurring entry whose last handled due time is in the future of now (the clock went back) is
  re-based to now: its next due time after now runs; it does not wait for the future date. That date
  is kept as `high_water`: if the clock moves past it again, due times up to it do not run again.
- A one-shot entry skipped as too old by a clock that has since gone back (the skip was decided at a
  time in the future of now) is decided again, so it runs at its time once the clock is right.
- A one-shot entry that ran stays run, whatever the clock does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from croniter import croniter

from smartcam.cmds.entries import Entry
from smartcam.cmds.ledger import Record

_MAX_COUNTED_MISSES = 10_000


class Action(Enum):
    WAIT = "wait"  # nothing due now
    BASELINE = "baseline"  # a recurring entry seen for the first time: count its due times from now
    RUN = "run"
    SKIP_STALE = "skip_stale"  # due, but longer ago than the catch-up window
    SKIP_LOST = "skip_lost"  # due before the ledger was lost: it may already have run
    REBASE = "rebase"  # the clock went back before the entry's last due time: count from now


@dataclass(frozen=True)
class Decision:
    action: Action
    due: float | None = None
    missed: int = 0  # earlier due times collapsed into this one (never run separately)
    high_water: float | None = None  # to keep in the entry's record (see the module doc)


def decide(entry: Entry, record: Record | None, now: float, catch_up_window_s: float,
           lost_before: float | None = None) -> Decision:
    """What to do with `entry` at `now`; `lost_before`: the ledger was lost then (see ledger.py)."""
    if entry.epoch is not None:
        due = float(entry.epoch)
        if record is not None and record.state == "skipped" and record.updated_at > now:
            record = None  # skipped by a clock that has since gone back: decide again
        if due > now or (record is not None and record.last_due >= due):
            return Decision(Action.WAIT)
        if record is None and lost_before is not None and due <= lost_before:
            return Decision(Action.SKIP_LOST, due=due)
        missed, high_water = 0, None
    else:
        if record is None:
            return Decision(Action.BASELINE, due=now)
        if record.last_due > now:
            return Decision(Action.REBASE, due=now, high_water=max(record.last_due, record.high_water or 0.0))
        after, high_water = record.last_due, record.high_water
        if high_water is not None and now >= high_water:
            after, high_water = max(after, high_water), None  # the clock is past it again: it is spent
        cron_due, missed = _latest_cron_due(entry.cron or "", after, now)
        if cron_due is None:
            return Decision(Action.WAIT, high_water=high_water)
        due = cron_due
    action = Action.RUN if now - due <= catch_up_window_s else Action.SKIP_STALE
    return Decision(action, due=due, missed=missed, high_water=high_water)


def _latest_cron_due(expression: str, after: float, now: float) -> tuple[float | None, int]:
    """The latest due time in (after, now] and how many earlier ones it hides."""
    # get_prev is strictly earlier than its start; cron times are whole seconds, so start just past now.
    start = datetime.fromtimestamp(math.floor(now) + 1, UTC)
    latest = croniter(expression, start).get_prev(float)
    if latest <= after:
        return None, 0
    missed = 0
    walker = croniter(expression, datetime.fromtimestamp(after, UTC))
    while missed < _MAX_COUNTED_MISSES and walker.get_next(float) < latest:
        missed += 1
    return latest, missed
