"""The queue's persisted counters, changed in the same transaction as the rows they describe.

That is what keeps `received == delivered + queued + dead_letter + evicted` true after any crash,
not just after a clean stop. A count of something that changed no row (a duplicate, a refusal) is
written at once if the disk allows, else carried by the next transaction that succeeds.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from smartcam.common.counters import Counters
from smartcam.uploader import db

EVICTED_PREFIX = "evicted."  # + the reason: one persisted counter per eviction reason


@dataclass(frozen=True)
class Change:
    """One open write transaction: run SQL on `sql`, count what it does in `counts`."""

    sql: sqlite3.Connection
    counts: Counter[str]


class CounterStore:
    """Persisted counters for the queue's parts; each count also goes to the service's in-memory `Counters`."""

    def __init__(self, database: db.Database, counters: Counters) -> None:
        self._database = database
        self._counters = counters
        self._pending: Counter[str] = Counter()  # counts not yet persisted (the disk refused them)

    @contextmanager
    def change(self) -> Iterator[Change]:
        """One transaction for a change and the counters describing it (plus any not yet persisted)."""
        counts: Counter[str] = Counter()
        with self._database.locked():
            with self._database.transaction() as connection:
                yield Change(connection, counts)
                add_counts(connection, counts + self._pending)
            self._pending.clear()
        for name, amount in counts.items():
            self._counters.inc(name, amount)

    def count_soon(self, name: str) -> None:
        """Count something that changed no row; persisted now if the disk allows, else with the next change."""
        self._counters.inc(name)
        with self._database.locked():
            self._pending[name] += 1
            try:
                with self._database.transaction() as connection:
                    add_counts(connection, self._pending)
                self._pending.clear()
            except sqlite3.Error:
                pass  # still pending; the next successful transaction carries it


def add_counts(connection: sqlite3.Connection, counts: Mapping[str, int]) -> None:
    """Add to persisted counters; call inside the transaction that makes the change they count."""
    connection.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        [(name, amount) for name, amount in counts.items() if amount],
    )


def read_counters(connection: sqlite3.Connection) -> dict[str, int]:
    """Every persisted counter by name."""
    return {name: value for name, value in connection.execute("SELECT name, value FROM counters")}
