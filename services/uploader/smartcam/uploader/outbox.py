"""Messages that are not events (the heartbeat): at most one unsent message per kind, the newest.

Outside the event ledger and the disk budget (a few kB each): a message can never evict or refuse
an event, and a newer message of its kind replaces the unsent one (only the newest is worth sending).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcam.uploader import db
from smartcam.uploader.counts import CounterStore


@dataclass(frozen=True)
class OutboxMessage:
    kind: str
    message_id: str  # its Idempotency-Key
    created_at: float
    document: str  # the JSON body


class Outbox:
    """The stored messages; counts `<kind>s_created`, `<kind>s_replaced_unsent` and whatever `done` is told."""

    def __init__(self, database: db.Database, counts: CounterStore, clock: Callable[[], float]) -> None:
        self._database = database
        self._counts = counts
        self._clock = clock

    def put(self, kind: str, message_id: str, document: dict[str, Any]) -> None:
        """Store a message to send, replacing the unsent one of its kind.

        Raises sqlite3.Error if the disk refuses it; the caller tries again at the next interval.
        """
        with self._counts.change() as change:
            replaced = read_message(change.sql, kind) is not None
            change.sql.execute(
                "INSERT OR REPLACE INTO outbox (kind, message_id, created_at, document) VALUES (?, ?, ?, ?)",
                (kind, message_id, self._clock(), json.dumps(document, separators=(",", ":"))))
            change.counts[f"{kind}s_created"] += 1
            change.counts[f"{kind}s_replaced_unsent"] += int(replaced)

    def pending(self, kind: str) -> OutboxMessage | None:
        """The unsent message of `kind`, if any."""
        with self._database.locked() as connection:
            return read_message(connection, kind)

    def done(self, kind: str, message_id: str, counter: str) -> None:
        """The message was answered for good (`counter` says how); a newer one that replaced it stays."""
        with self._counts.change() as change:
            change.sql.execute("DELETE FROM outbox WHERE kind = ? AND message_id = ?", (kind, message_id))
            change.counts[counter] += 1


def read_message(connection: sqlite3.Connection, kind: str) -> OutboxMessage | None:
    row = connection.execute(
        "SELECT kind, message_id, created_at, document FROM outbox WHERE kind = ?", (kind,)).fetchone()
    return None if row is None else OutboxMessage(*row)


def read_messages(connection: sqlite3.Connection) -> list[OutboxMessage]:
    """Every unsent message, by kind."""
    return [OutboxMessage(*row) for row in connection.execute(
        "SELECT kind, message_id, created_at, document FROM outbox ORDER BY kind")]
