"""The queue's SQLite database: schema, durable connection settings, persisted counters, figures.

One file, `queue.db`, in WAL mode: the service writes, `smartcam status` reads at the same time
without blocking it. Counters live in the same database and change in the same transaction as
the rows they describe, so `received == delivered + queued + dead_letter + evicted` holds after
any crash, not just after a clean stop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "queue.db"
EVICTED_PREFIX = "evicted."
WAL_CHECKPOINT_PAGES = 64
WAL_SIZE_LIMIT_BYTES = 512 * 1024

QUEUED = "queued"
DEAD_LETTER = "dead_letter"
DELIVERED = "delivered"
EVICTED = "evicted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    state        TEXT NOT NULL,             -- queued | dead_letter | delivered | evicted
    captured_at  REAL NOT NULL,             -- epoch seconds; delivery and eviction order
    sample       INTEGER NOT NULL,          -- 1: baseline sample, evicted before detections
    received_at  REAL NOT NULL,
    body_file    TEXT,                      -- JPEG file name in bodies/; NULL once delivered/evicted
    body_bytes   INTEGER NOT NULL DEFAULT 0,
    metadata     TEXT,                      -- JSON description (payloads.describe); NULL once done
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    http_status  INTEGER,                   -- dead letters: the status that condemned them
    finished_at  REAL                       -- when delivered, evicted or dead-lettered
);
CREATE INDEX IF NOT EXISTS events_by_state_time ON events (state, captured_at);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- Messages that are not events (the heartbeat): at most one unsent message per kind, the newest.
CREATE TABLE IF NOT EXISTS outbox (
    kind        TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,              -- its Idempotency-Key
    created_at  REAL NOT NULL,
    document    TEXT NOT NULL               -- the JSON body
);
-- Small facts kept across restarts, e.g. the model of the latest event (for the heartbeat).
CREATE TABLE IF NOT EXISTS facts (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def connect(queue_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) the queue database for the one writer, the service.

    `synchronous=FULL` in WAL mode: every commit fsyncs the WAL before it returns, so an event
    acknowledged to infer survives a power cut. NORMAL would fsync only at checkpoints and can
    lose the last commits on power loss (fine for a cache, not for acknowledged events). The extra
    cost is one small fsync per event next to the JPEG's own fsync: at a few events per minute
    that is negligible SD-card wear, and far cheaper than rollback journalling (which would fsync
    the database file and the journal for every commit). Retry attempts are deliberately not
    written (see `EventQueue.release`), so a long outage does not wear the card either.
    What a power cut can lose: nothing acknowledged. An event being stored when power fails was
    not acknowledged, so infer still holds it and resends it under the same id; a delivery whose
    2xx was not yet committed is sent again under the same Idempotency-Key.
    """
    queue_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(queue_dir / DB_NAME, isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    # Keep the WAL small: SQLite's defaults let it grow to ~4 MB before a checkpoint and never shrink
    # it, space a nearly full disk does not have. A checkpoint every 64 pages costs one more fsync
    # per ~20 events; the WAL is cut back to 512 kB after each.
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    connection.executescript(_SCHEMA)
    return connection


def connect_read_only(queue_dir: Path) -> sqlite3.Connection:
    """Open the database for reading only: safe while the service writes (WAL readers never block it)."""
    path = queue_dir / DB_NAME
    if not path.exists():
        raise FileNotFoundError(f"no queue database at {path}: the uploader has not run yet, "
                                "or SMARTCAM_QUEUE_DIR points elsewhere")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (so a failed write changes nothing)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        # Inside the try: a COMMIT that fails (e.g. SQLITE_FULL) leaves the transaction open, and an
        # open transaction would make every later BEGIN fail; roll it back so the next write can work.
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with suppress(sqlite3.Error):  # keep the original error; SQLite undoes the rest itself
                connection.execute("ROLLBACK")
        raise


@contextmanager
def snapshot(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction, so several SELECTs see one consistent state."""
    connection.execute("BEGIN")
    try:
        yield connection
    finally:
        connection.execute("ROLLBACK")  # nothing was written; ends the read transaction even on a full disk


def add_counts(connection: sqlite3.Connection, counts: Mapping[str, int]) -> None:
    """Add to persisted counters; call inside the transaction that makes the change they count."""
    connection.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        [(name, amount) for name, amount in counts.items() if amount],
    )


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
    with snapshot(connection):
        counters = dict(connection.execute("SELECT name, value FROM counters").fetchall())
        states = {state: (count, size) for state, count, size in connection.execute(
            "SELECT state, COUNT(*), COALESCE(SUM(body_bytes), 0) FROM events "
            "WHERE state IN (?, ?) GROUP BY state", (QUEUED, DEAD_LETTER))}
        # Waiting time on this device's clock (received_at), not capture time: robust to a camera clock that is off.
        oldest = connection.execute(
            "SELECT MIN(received_at) FROM events WHERE state = ?", (QUEUED,)).fetchone()[0]
    queued, queued_bytes = states.get(QUEUED, (0, 0))
    dead_letter, dead_bytes = states.get(DEAD_LETTER, (0, 0))
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
        " ORDER BY finished_at DESC LIMIT ?", (DEAD_LETTER, limit)).fetchall()
    return [DeadLetter(*row) for row in rows]


@dataclass(frozen=True)
class OutboxMessage:
    kind: str
    message_id: str
    created_at: float
    document: str


def read_outbox(connection: sqlite3.Connection, kind: str) -> OutboxMessage | None:
    row = connection.execute(
        "SELECT kind, message_id, created_at, document FROM outbox WHERE kind = ?", (kind,)).fetchone()
    return None if row is None else OutboxMessage(*row)


def read_fact(connection: sqlite3.Connection, name: str) -> str | None:
    row = connection.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]
