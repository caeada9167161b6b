"""When is an entry due? One decision per entry per poll, from its schedule and its ledger record.

Only the latest due time is ever run: due times missed while the device was off collapse into one
run (if the latest is within the catch-up window) or one logged skip (if it is older).
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


@dataclass(frozen=True)
class Decision:
    action: Action
    due: float | None = None
    missed: int = 0  # earlier due times collapsed into this one (never run separately)


def decide(entry: Entry, record: Record | None, now: float, catch_up_window_s: float) -> Decision:
    if entry.epoch is not None:
        due = float(entry.epoch)
        if due > now or (record is not None and record.last_due >= due):
            return Decision(Action.WAIT)
        missed = 0
    else:
        if record is None:
            return Decision(Action.BASELINE, due=now)
        due, missed = _latest_cron_due(entry.cron or "", record.last_due, now)
        if due is None:
            return Decision(Action.WAIT)
    action = Action.RUN if now - due <= catch_up_window_s else Action.SKIP_STALE
    return Decision(action, due=due, missed=missed)


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
