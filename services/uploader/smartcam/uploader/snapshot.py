"""Everything the queue holds, as typed read-only data: for tests and audits, never for deciding anything.

`read_snapshot` works on any connection, also `db.connect_read_only` while the service runs (the
fault tests read a running uploader's ledger this way); `EventQueue.snapshot` adds what the
service keeps in memory only (events in flight, failed attempts not yet written).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from smartcam.uploader import db, facts
from smartcam.uploader.counts import read_counters
from smartcam.uploader.figures import DeadLetter
from smartcam.uploader.outbox import OutboxMessage, read_messages


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event ledger (delivered and evicted ones are tombstones: no body, no description)."""

    event_id: str
    state: str  # db.QUEUED | db.DEAD_LETTER | db.DELIVERED | db.EVICTED
    captured_at: float
    sample: bool
    received_at: float
    body_file: str | None
    body_bytes: int
    description: str | None  # the stored JSON description, exactly as stored
    attempts: int
    last_error: str | None
    http_status: int | None
    finished_at: float | None


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one moment: rows in storage order, the outbox, facts, persisted counters, in-memory state."""

    events: tuple[StoredEvent, ...]
    outbox: tuple[OutboxMessage, ...]
    facts: dict[str, str]
    counters: dict[str, int]
    in_flight: frozenset[str] = frozenset()
    unsaved_attempts: dict[str, int] = field(default_factory=dict)  # failed attempts of events still queued

    def event(self, event_id: str) -> StoredEvent | None:
        return next((event for event in self.events if event.event_id == event_id), None)

    def ids(self, state: str) -> list[str]:
        """Event ids in `state`, in storage order."""
        return [event.event_id for event in self.events if event.state == state]

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """As `smartcam status` lists them: newest first."""
        letters = sorted((event for event in self.events if event.state == db.DEAD_LETTER),
                         key=lambda event: event.finished_at or 0.0, reverse=True)
        return [DeadLetter(event.event_id, event.captured_at, event.http_status, event.last_error)
                for event in letters]


def read_snapshot(connection: sqlite3.Connection) -> QueueSnapshot:
    """The stored part of the queue, read in one read transaction."""
    with db.read_transaction(connection):
        rows = connection.execute(
            "SELECT event_id, state, captured_at, sample, received_at, body_file, body_bytes, metadata, attempts,"
            " last_error, http_status, finished_at FROM events ORDER BY rowid").fetchall()
        return QueueSnapshot(tuple(_stored_event(row) for row in rows), tuple(read_messages(connection)),
                             facts.read_all(connection), read_counters(connection))


def _stored_event(row: tuple[Any, ...]) -> StoredEvent:
    (event_id, state, captured_at, sample, received_at, body_file, body_bytes, description, attempts, last_error,
     http_status, finished_at) = row
    return StoredEvent(event_id, state, captured_at, bool(sample), received_at, body_file, body_bytes, description,
                       attempts, last_error, http_status, finished_at)
