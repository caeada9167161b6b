"""The queue's figures for people: the ledger `smartcam status` prints, the health file and heartbeat summarise.

Read in one read transaction, so the figures always add up, also from `smartcam status`'s
read-only connection while the service writes.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from smartcam.uploader import db
from smartcam.uploader.counts import EVICTED_PREFIX, read_counters


@dataclass(frozen=True)
class QueueFigures:
    """The ledger `smartcam status` prints and the health file summarises."""

    received: int
    delivered: int
    queued: int
    dead_letter: int
    evicted: dict[str, int]
    refused: int
    duplicates: int
    queued_bytes: int
    stored_bytes: int
    oldest_queued_age_s: float | None
    retried: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def evicted_total(self) -> int:
        return sum(self.evicted.values())

    @property
    def balanced(self) -> bool:
        """Every received event is accounted for exactly once."""
        return self.received == self.delivered + self.queued + self.dead_letter + self.evicted_total


def read_figures(connection: sqlite3.Connection, now: float | None = None) -> QueueFigures:
    """Read counters and row counts in one snapshot."""
    now = time.time() if now is None else now
    with db.read_transaction(connection):
        counters = read_counters(connection)
        states = {state: (count, size) for state, count, size in connection.execute(
            "SELECT state, COUNT(*), COALESCE(SUM(body_bytes), 0) FROM events "
            "WHERE state IN (?, ?) GROUP BY state", (db.QUEUED, db.DEAD_LETTER))}
        # Waiting time on this device's clock (received_at), not capture time: robust to a camera clock that is off.
        oldest = connection.execute(
            "SELECT MIN(received_at) FROM events WHERE state = ?", (db.QUEUED,)).fetchone()[0]
    queued, queued_bytes = states.get(db.QUEUED, (0, 0))
    dead_letter, dead_bytes = states.get(db.DEAD_LETTER, (0, 0))
    return QueueFigures(
        received=counters.get("received", 0),
        delivered=counters.get("delivered", 0),
        queued=queued,
        dead_letter=dead_letter,
        evicted={name.removeprefix(EVICTED_PREFIX): value for name, value in sorted(counters.items())
                 if name.startswith(EVICTED_PREFIX)},
        refused=counters.get("refused", 0),
        duplicates=counters.get("duplicates", 0),
        queued_bytes=queued_bytes,
        stored_bytes=queued_bytes + dead_bytes,
        oldest_queued_age_s=None if oldest is None else max(0.0, round(now - oldest, 1)),
        retried=counters.get("retried", 0),
        counters=counters,
    )


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    captured_at: float
    http_status: int | None
    reason: str | None


def read_dead_letters(connection: sqlite3.Connection, limit: int) -> list[DeadLetter]:
    """The most recently dead-lettered events, newest first."""
    rows = connection.execute(
        "SELECT event_id, captured_at, http_status, last_error FROM events WHERE state = ?"
        " ORDER BY finished_at DESC LIMIT ?", (db.DEAD_LETTER, limit)).fetchall()
    return [DeadLetter(*row) for row in rows]
