"""The durable event queue: an event is acknowledged only once it is on disk, and leaves only accounted for.

Rows live in SQLite (`db`), JPEG bodies as files (`bodies`). Life of an event:
`queued` -> `delivered` (kept as a small tombstone row so a late resend is still recognised),
or -> `dead_letter` (kept with its body, HTTP status and reason), or -> `evicted` (tombstone,
reason counted: over the disk budget, or its body file was lost).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Event
from smartcam.uploader import bodies, db, payloads, space
from smartcam.uploader.recent import RecentErrors

TOMBSTONE_RETENTION_S = 7 * 24 * 3600  # far longer than infer ever resends an unacknowledged event
STOP_CHECK_S = 0.1

EVICTED_SAMPLE = "over_budget_sample"
EVICTED_DETECTION = "over_budget_detection"
LOST_FILE_MISSING = "lost_file_missing"
LAST_MODEL_FACT = "last_model"


class StoreRefusedError(Exception):
    """The event could not be stored durably; `reason` goes back to infer in the ack."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QueuedEvent:
    """An event claimed for delivery."""

    event_id: str
    description: dict[str, Any]
    body_file: str
    captured_at: float


class EventQueue:
    """Store-and-forward queue on `queue_dir`; safe to use from the receiving and delivering threads."""

    def __init__(self, queue_dir: Path, budget_bytes: int, logger: logging.Logger,
                 counters: Counters | None = None, *, clock: Callable[[], float] = time.time,
                 errors: RecentErrors | None = None) -> None:
        self._dir = queue_dir
        self._bodies = bodies.bodies_dir(queue_dir)
        self._budget = budget_bytes
        self._logger = logger
        self._counters = counters or Counters()
        self._clock = clock
        self.errors = errors or RecentErrors()
        self._refusals = OncePerKind(logger, self._counters, "refused")
        self._lock = threading.RLock()
        self._work = threading.Event()
        self._in_flight: set[str] = set()
        self._attempts: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()  # counts not yet persisted (the disk refused them)
        self._evictions_logged: set[str] = set()
        self._write_problem: str | None = None
        self._bodies.mkdir(parents=True, exist_ok=True)
        self._connection = db.connect(queue_dir)
        self._reserve = space.Reserve(queue_dir)
        self._reserve.restore()
        self._recover()
        self.prune_tombstones()

    # -- storing ---------------------------------------------------------------------------------

    def put(self, event: Event) -> bool:
        """Store `event` durably; True if newly stored, False if it was already known (a resend).

        Returns only once the body and the row are fsynced: that is when infer may be acknowledged.
        Raises StoreRefusedError (counted as `refused`) if the disk cannot take it; the queue stays intact.
        """
        try:
            known = self._known(event.event_id)
        except sqlite3.Error as error:
            raise self._refuse(event.event_id, error, f"cannot read {self._dir / db.DB_NAME}") from None
        if known:
            self._count_soon("duplicates")
            return False
        name = bodies.body_name(event.event_id)
        if not space.room_for(self._bodies, len(event.image)):
            raise self._refuse(event.event_id, OSError(errno.ENOSPC, "no room left above the headroom"),
                               f"storing its {len(event.image)} bytes would leave less than "
                               f"{space.HEADROOM_BYTES} bytes free on the disk") from None
        try:
            bodies.write_durably(self._bodies, name, event.image)
        except OSError as error:
            raise self._refuse(event.event_id, error, f"cannot write its image into {self._bodies}") from None
        try:
            with self._changing() as counts:
                self._connection.execute(
                    "INSERT INTO events (event_id, state, captured_at, sample, received_at, body_file, body_bytes,"
                    " metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (event.event_id, db.QUEUED, event.captured_at.timestamp(), int(event.sample), self._clock(),
                     name, len(event.image), json.dumps(payloads.describe(event))))
                counts["received"] += 1
                model = {"name": event.model.name, "sha256": event.model.sha256}
                self._connection.execute("INSERT OR REPLACE INTO facts (name, value) VALUES (?, ?)",
                                         (LAST_MODEL_FACT, json.dumps(model)))
                evicted = self._evict_over_budget(counts)
        except (sqlite3.Error, OSError) as error:
            bodies.remove(self._bodies, name)
            raise self._refuse(event.event_id, error, f"cannot record it in {self._dir / db.DB_NAME}") from None
        self._write_problem = None
        for body_file in evicted:
            bodies.remove(self._bodies, body_file)
        self._work.set()
        return True

    def _known(self, event_id: str) -> bool:
        with self._lock:
            return self._connection.execute(
                "SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None

    def _refuse(self, event_id: str, error: BaseException, what: str) -> StoreRefusedError:
        full = space.is_disk_full(error)
        kind = "disk_full" if full else "write_error"
        reason = f"queue refused event {event_id}: {what}: {error}"
        fix = "free disk space or lower SMARTCAM_QUEUE_BUDGET_MB" if full else f"check {self._dir} and its disk"
        self._refusals.report(kind, f"{reason}; infer keeps it and resends; {fix}")
        self._write_problem = f"{reason}; {fix}"
        self.errors.add(self._write_problem)
        self._count_soon("refused")
        return StoreRefusedError(reason)

    def _evict_over_budget(self, counts: Counter[str]) -> list[str]:
        """Within the put's transaction: drop queued events until the stored bodies fit the budget.

        Baseline samples go before detections, oldest first; dead letters are never evicted,
        and neither are events being sent right now.
        """
        used = self._connection.execute(
            "SELECT COALESCE(SUM(body_bytes), 0) FROM events WHERE state IN (?, ?)",
            (db.QUEUED, db.DEAD_LETTER)).fetchone()[0]
        removed: list[str] = []
        if used <= self._budget:
            return removed
        candidates = self._connection.execute(
            "SELECT event_id, body_file, body_bytes, sample FROM events WHERE state = ?"
            " ORDER BY sample DESC, captured_at, rowid", (db.QUEUED,)).fetchall()
        for event_id, body_file, size, sample in candidates:
            if used <= self._budget:
                break
            if event_id in self._in_flight:
                continue
            reason = EVICTED_SAMPLE if sample else EVICTED_DETECTION
            attempts = self._attempts.pop(event_id, 0)  # its failed attempts count as retries all the same
            counts["retried"] += attempts
            self._finish(event_id, db.EVICTED, reason, counts, attempts=attempts)
            removed.append(body_file)
            used -= size
            self._log_eviction(event_id, reason)
        return removed

    def _log_eviction(self, event_id: str, reason: str) -> None:
        first = reason not in self._evictions_logged
        self._evictions_logged.add(reason)
        self._logger.log(
            logging.WARNING if first else logging.DEBUG,
            "evicted event %s (%s): queued images exceed the %g MB disk budget; raise SMARTCAM_QUEUE_BUDGET_MB "
            "or fix the upload link%s", event_id, reason, self._budget / 1024 / 1024,
            " (further evictions are counted in `smartcam status`)" if first else "")

    # -- delivering ------------------------------------------------------------------------------

    def has_queued(self) -> bool:
        """Whether any event waits for delivery (in flight or not)."""
        with self._lock:
            return self._connection.execute(
                "SELECT 1 FROM events WHERE state = ? LIMIT 1", (db.QUEUED,)).fetchone() is not None

    def claim(self, limit: int) -> list[QueuedEvent]:
        """The oldest queued events (by capture time) not already being sent, marked as in flight."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT event_id, metadata, body_file, captured_at FROM events WHERE state = ?"
                " ORDER BY captured_at, rowid LIMIT ?", (db.QUEUED, limit + len(self._in_flight))).fetchall()
            claimed = [QueuedEvent(event_id, json.loads(metadata), body_file, captured_at)
                       for event_id, metadata, body_file, captured_at in rows if event_id not in self._in_flight]
            claimed = claimed[:limit]
            self._in_flight.update(item.event_id for item in claimed)
            return claimed

    def read_image(self, item: QueuedEvent) -> bytes:
        """The stored JPEG; OSError if it vanished (then call `mark_lost`)."""
        return (self._bodies / item.body_file).read_bytes()

    def mark_delivered(self, event_id: str) -> None:
        """The target accepted the event: drop its body, keep a tombstone, count `delivered`."""
        self._settle(event_id, db.DELIVERED, None, "delivered")

    def dead_letter(self, event_id: str, http_status: int | None, reason: str) -> None:
        """The target rejected this event for good: keep it, with why, out of the delivery order."""
        self._settle(event_id, db.DEAD_LETTER, reason, "dead_lettered", http_status=http_status)

    def mark_lost(self, event_id: str, reason: str) -> None:
        """The event's body vanished from disk: account for it as evicted (lost), never silently."""
        self._logger.error("event %s is lost: %s", event_id, reason)
        self._settle(event_id, db.EVICTED, LOST_FILE_MISSING, None)  # `_finish` counts evictions

    def release(self, event_id: str) -> None:
        """A delivery attempt failed but may succeed later: back into the queue, in the same place.

        The attempt is counted in memory only (written with the final outcome), so retrying through
        a long outage does not write to the SD card every time.
        """
        with self._lock:
            if event_id in self._in_flight:
                self._in_flight.discard(event_id)
                self._attempts[event_id] += 1

    def _settle(self, event_id: str, state: str, reason: str | None, counter: str | None, *,
                http_status: int | None = None) -> None:
        with self._lock:
            attempts = self._attempts.pop(event_id, 0) + 1
            self._in_flight.discard(event_id)
            body_file = self._connection.execute(
                "SELECT body_file FROM events WHERE event_id = ? AND state = ?", (event_id, db.QUEUED)).fetchone()
            if body_file is None:
                return  # already settled (never expected: in-flight events are not evicted)
            try:
                self._record_settlement(event_id, state, reason, counter, attempts=attempts, http_status=http_status)
            except sqlite3.OperationalError as error:
                if not (space.is_disk_full(error) and self._reserve.release()):
                    self._attempts[event_id] += attempts - 1  # not recorded: the event stays queued
                    raise
                self._logger.warning("the disk is full, so the queue released its %d-byte reserve to record "
                                     "deliveries; free space on the disk holding %s", space.RESERVE_BYTES, self._dir)
                self._counters.inc("reserve_released")
                self._record_settlement(event_id, state, reason, counter, attempts=attempts, http_status=http_status)
        if state != db.DEAD_LETTER:
            bodies.remove(self._bodies, body_file[0])
            self._reserve.restore()

    def _record_settlement(self, event_id: str, state: str, reason: str | None, counter: str | None, *,
                           attempts: int, http_status: int | None) -> None:
        with self._changing() as counts:
            self._finish(event_id, state, reason, counts, attempts=attempts, http_status=http_status)
            if counter:
                counts[counter] += 1
            counts["retried"] += attempts - 1  # attempts before the last, written once with the outcome

    def _finish(self, event_id: str, state: str, reason: str | None, counts: Counter[str], *,
                attempts: int = 0, http_status: int | None = None) -> None:
        """Move one queued row to its final state inside the caller's transaction; bodies go unless dead-lettered."""
        keep_body = state == db.DEAD_LETTER
        self._connection.execute(
            "UPDATE events SET state = ?, last_error = ?, http_status = ?, attempts = attempts + ?, finished_at = ?,"
            " body_file = CASE WHEN ? THEN body_file END, metadata = CASE WHEN ? THEN metadata END,"
            " body_bytes = CASE WHEN ? THEN body_bytes ELSE 0 END WHERE event_id = ?",
            (state, reason, http_status, attempts, self._clock(), keep_body, keep_body, keep_body, event_id))
        if state == db.EVICTED:
            counts[db.EVICTED_PREFIX + (reason or "unknown")] += 1

    def retries_pending(self) -> int:
        """Failed attempts of events still queued (persisted as `retried` only when each event settles)."""
        with self._lock:
            return sum(self._attempts.values())

    # -- messages that are not events (the heartbeat) --------------------------------------------

    def put_message(self, kind: str, message_id: str, document: dict[str, Any]) -> None:
        """Store a message to send, replacing the unsent one of its kind: only the newest is worth sending.

        Outside the event ledger and the disk budget (a few kB): it can never evict or refuse an event.
        Raises sqlite3.Error if the disk refuses it; the caller tries again at the next interval.
        """
        with self._changing() as counts:
            replaced = db.read_outbox(self._connection, kind) is not None
            self._connection.execute(
                "INSERT OR REPLACE INTO outbox (kind, message_id, created_at, document) VALUES (?, ?, ?, ?)",
                (kind, message_id, self._clock(), json.dumps(document, separators=(",", ":"))))
            counts[f"{kind}s_created"] += 1
            counts[f"{kind}s_replaced_unsent"] += int(replaced)
        self._work.set()

    def pending_message(self, kind: str) -> db.OutboxMessage | None:
        with self._lock:
            return db.read_outbox(self._connection, kind)

    def message_done(self, kind: str, message_id: str, counter: str) -> None:
        """The message was answered for good (`counter` says how); a newer one that replaced it stays."""
        with self._changing() as counts:
            self._connection.execute("DELETE FROM outbox WHERE kind = ? AND message_id = ?", (kind, message_id))
            counts[counter] += 1

    def fact(self, name: str) -> str | None:
        with self._lock:
            return db.read_fact(self._connection, name)

    def wait_for_work(self, timeout_s: float, stop: threading.Event) -> None:
        """Sleep until an event is stored, `stop` is set, or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self._work.wait(min(remaining, STOP_CHECK_S)):
                break
        self._work.clear()

    # -- bookkeeping -----------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[Counter[str]]:
        """One transaction for a change and the counters describing it (plus any not yet persisted)."""
        counts: Counter[str] = Counter()
        with self._lock:
            with db.transaction(self._connection):
                yield counts
                db.add_counts(self._connection, counts + self._pending)
            self._pending.clear()
        for name, amount in counts.items():
            self._counters.inc(name, amount)

    def _count_soon(self, name: str) -> None:
        """Count something that changed no row; persisted now if the disk allows, else with the next change."""
        self._counters.inc(name)
        with self._lock:
            self._pending[name] += 1
            try:
                with db.transaction(self._connection):
                    db.add_counts(self._connection, self._pending)
                self._pending.clear()
            except sqlite3.Error:
                pass  # still pending; the next successful transaction carries it

    def figures(self) -> db.QueueFigures:
        with self._lock:
            return db.read_figures(self._connection, self._clock())

    def write_problem(self) -> str | None:
        """Why the queue cannot store events right now, or None (checked cheaply: no test write)."""
        if not os.access(self._bodies, os.W_OK | os.X_OK):
            return f"queue directory {self._bodies} is not writable; fix its owner or mount"
        free = space.free_bytes(self._bodies)
        if free < space.HEADROOM_BYTES:
            return (f"only {free} bytes free on the disk holding {self._bodies}: new events are refused until "
                    "deliveries or you free space")
        return self._write_problem

    def prune_tombstones(self, retention_s: float = TOMBSTONE_RETENTION_S) -> None:
        """Forget delivered/evicted events long after any resend could arrive (counters keep the totals)."""
        with self._lock, db.transaction(self._connection):
            self._connection.execute(
                "DELETE FROM events WHERE state IN (?, ?) AND finished_at < ?",
                (db.DELIVERED, db.EVICTED, self._clock() - retention_s))

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- crash recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """After a crash: remove half-written files, account for rows whose body vanished, drop unowned bodies."""
        for temporary in bodies.temporary_files(self._bodies):
            temporary.unlink(missing_ok=True)
            self._counters.inc("orphan_temp_files_removed")
            self._logger.info("removed %s, a body half-written before a crash (its event was never acknowledged)",
                              temporary.name)
        present = bodies.body_files(self._bodies)
        rows = self._connection.execute(
            "SELECT event_id, body_file FROM events WHERE state IN (?, ?)", (db.QUEUED, db.DEAD_LETTER)).fetchall()
        missing = [event_id for event_id, body_file in rows if body_file not in present]
        if missing:
            with self._changing() as counts:
                for event_id in missing:
                    self._finish(event_id, db.EVICTED, LOST_FILE_MISSING, counts)
            self._logger.error("%d stored events lost their image file (someone deleted files in %s?); counted as "
                               "evicted.%s: %s", len(missing), self._bodies, LOST_FILE_MISSING,
                               ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
        for orphan in sorted(present - {body_file for _, body_file in rows}):
            bodies.remove(self._bodies, orphan)
            self._counters.inc("orphan_bodies_removed")
            self._logger.info("removed %s, a body with no queued event (stored just before a crash, never "
                              "acknowledged, or already delivered)", orphan)
