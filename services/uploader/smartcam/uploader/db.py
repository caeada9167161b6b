"""The queue's SQLite database: schema, durable connection settings, and the one shared connection.

One file, `queue.db`, in WAL mode: the service writes, `smartcam status` reads at the same time
without blocking it. The parts of the queue (`event_store`, `outbox`, `facts`, `counts`) each own
their tables but share one `Database`: one connection and one lock, so a change and the counters
describing it commit in one transaction (see `counts.CounterStore.change`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

DB_NAME = "queue.db"
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
    written (see `EventStore.release`), so a long outage does not wear the card either.
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
def read_transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction, so several SELECTs see one consistent state."""
    connection.execute("BEGIN")
    try:
        yield connection
    finally:
        connection.execute("ROLLBACK")  # nothing was written; ends the read transaction even on a full disk


class Database:
    """The service's one connection to the queue database, shared by the queue's parts under one lock.

    The lock is re-entrant: a part may hold it across a read and an in-memory update (say, claiming
    events) and open a write transaction inside it.
    """

    def __init__(self, queue_dir: Path) -> None:
        self.path = queue_dir / DB_NAME
        self._connection = connect(queue_dir)
        self._lock = threading.RLock()
        self._locked = _Locked(self._lock, self._connection)

    def locked(self) -> _Locked:
        """`with database.locked() as connection:` reads (and in-memory bookkeeping that must agree with them)."""
        return self._locked

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE ... COMMIT (see `transaction`), under the lock."""
        with self._lock, transaction(self._connection) as connection:
            yield connection

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _Locked:
    """The connection while holding the lock; a plain class, as cheap as the lock itself (it is on every call)."""

    def __init__(self, lock: threading.RLock, connection: sqlite3.Connection) -> None:
        self._lock = lock
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        return self._connection

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()
