"""The event ledger: an event is acknowledged only once it is on disk, and leaves only accounted for.

Rows live in SQLite (`db`), JPEG bodies as files (`bodies`). Life of an event:
`queued` -> `delivered` (kept as a small tombstone row so a late resend is still recognised),
or -> `dead_letter` (kept with its body, HTTP status and reason), or -> `evicted` (tombstone,
reason counted: over the disk budget (`budget`), or its body file was lost).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Event
from smartcam.uploader import bodies, db, event_classes, facts, payloads, space
from smartcam.uploader.budget import Budget
from smartcam.uploader.counts import EVICTED_PREFIX, Change, CounterStore
from smartcam.uploader.recent import RecentErrors

TOMBSTONE_RETENTION_S = 7 * 24 * 3600  # far longer than infer ever resends an unacknowledged event
LOST_FILE_MISSING = "lost_file_missing"


_CLAIM = "SELECT event_id, metadata, body_file, captured_at FROM events WHERE state = ? AND {} ORDER BY "
_CLAIM_BY_TIME = _CLAIM + "captured_at, rowid LIMIT ?"
_CLAIM_DETECTIONS_FIRST = _CLAIM + "sample, captured_at, rowid LIMIT ?"


def _description(metadata: str | None) -> dict[str, Any] | None:
    try:
        description = json.loads(metadata or "")
    except ValueError:
        return None
    return description if isinstance(description, dict) else None


class StoreRefusedError(Exception):
    """The event could not be stored durably; `reason` goes back to infer in the ack."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QueuedEvent:
    """An event claimed for delivery."""

    event_id: str
    description: dict[str, Any] | None  # None: what is stored is not JSON (damaged on disk): a dead letter
    body_file: str
    captured_at: float


class EventStore:
    """Stores, hands out for delivery and settles events; safe to use from the receiving and delivering threads.

    Which events are being sent and how often each failed is kept in memory, guarded by the
    database's lock: a retry through a long outage does not write to the SD card every time.
    """

    def __init__(self, database: db.Database, counts: CounterStore, queue_dir: Path, *, budget: Budget,
                 reserve: space.Reserve, logger: logging.Logger, counters: Counters, errors: RecentErrors,
                 clock: Callable[[], float]) -> None:
        self._database = database
        self._counts = counts
        self._dir = queue_dir
        self._bodies = bodies.bodies_dir(queue_dir)
        self._budget = budget
        self._reserve = reserve
        self._logger = logger
        self._counters = counters
        self._errors = errors
        self._clock = clock
        self._refusals = OncePerKind(logger, counters, "refused")
        self._in_flight: set[str] = set()
        self._attempts: Counter[str] = Counter()
        self._write_problem: str | None = None

    # -- storing ---------------------------------------------------------------------------------

    def put(self, event: Event) -> bool:
        """Store `event` durably; True if newly stored, False if it was already known (a resend).

        Returns only once the body and the row are fsynced: that is when infer may be acknowledged.
        Raises StoreRefusedError (counted as `refused`) if the disk cannot take it; the queue stays intact.
        """
        try:
            known = self._known(event.event_id)
        except sqlite3.Error as error:
            raise self._refuse(event.event_id, error, f"cannot read {self._database.path}") from None
        if known:
            self._counts.count_soon("duplicates")
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
            with self._counts.change() as change:
                change.sql.execute(
                    "INSERT INTO events (event_id, state, captured_at, sample, received_at, body_file, body_bytes,"
                    " metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (event.event_id, db.QUEUED, event.captured_at.timestamp(), int(event.sample), self._clock(),
                     name, len(event.image), json.dumps(payloads.describe(event))))
                change.counts["received"] += 1
                model = {"name": event.model.name, "sha256": event.model.sha256}
                facts.write(change.sql, facts.LAST_MODEL, json.dumps(model))
                evicted = self._evict_over_budget(change)
        except (sqlite3.Error, OSError) as error:
            bodies.remove(self._bodies, name)
            raise self._refuse(event.event_id, error, f"cannot record it in {self._database.path}") from None
        self._write_problem = None
        for body_file in evicted:
            bodies.remove(self._bodies, body_file)
        return True

    def _known(self, event_id: str) -> bool:
        with self._database.locked() as sql:
            return sql.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None

    def _refuse(self, event_id: str, error: BaseException, what: str) -> StoreRefusedError:
        full = space.is_disk_full(error)
        kind = "disk_full" if full else "write_error"
        reason = f"queue refused event {event_id}: {what}: {error}"
        fix = "free disk space or lower SMARTCAM_QUEUE_BUDGET_MB" if full else f"check {self._dir} and its disk"
        self._refusals.report(kind, f"{reason}; infer keeps it and resends; {fix}")
        self._write_problem = f"{reason}; {fix}"
        self._errors.add(self._write_problem)
        self._counts.count_soon("refused")
        return StoreRefusedError(reason)

    def _evict_over_budget(self, change: Change) -> list[str]:
        """Within the put's transaction: drop queued events (not those in flight) until the bodies fit the budget."""
        removed: list[str] = []
        for victim in self._budget.over_budget(change.sql, self._in_flight):
            attempts = self._attempts.pop(victim.event_id, 0)  # its failed attempts count as retries all the same
            change.counts["retried"] += attempts
            self._finish(change, victim.event_id, db.EVICTED, victim.reason, attempts=attempts)
            removed.append(victim.body_file)
            self._budget.log_eviction(victim.event_id, victim.reason)
        return removed

    def write_problem(self) -> str | None:
        """Why the queue cannot store events right now, or None (checked cheaply: no test write)."""
        if not os.access(self._bodies, os.W_OK | os.X_OK):
            return f"queue directory {self._bodies} is not writable; fix its owner or mount"
        free = space.free_bytes(self._bodies)
        if free < space.HEADROOM_BYTES:
            return (f"only {free} bytes free on the disk holding {self._bodies}: new events are refused until "
                    "deliveries or you free space")
        return self._write_problem

    # -- delivering ------------------------------------------------------------------------------

    def has_queued(self, *, excluding: Collection[str] = ()) -> bool:
        """Whether any event waits for delivery (in flight or not), leaving out the classes `excluding`."""
        condition, classes = event_classes.excluding(excluding)
        with self._database.locked() as sql:
            return sql.execute(f"SELECT 1 FROM events WHERE state = ? AND {condition} LIMIT 1",
                               (db.QUEUED, *classes)).fetchone() is not None

    def queued_by_class(self) -> dict[str, int]:
        """How many events of each class (`event_classes`) are queued."""
        with self._database.locked() as sql:
            return dict(sql.execute(f"SELECT {event_classes.CLASS_SQL} AS class, COUNT(*) FROM events "
                                    "WHERE state = ? GROUP BY class", (db.QUEUED,)).fetchall())

    def claim(self, limit: int, *, detections_first: bool = False, excluding: Collection[str] = ()
              ) -> list[QueuedEvent]:
        """The oldest queued events (by capture time) not already being sent, marked as in flight.

        `detections_first` (a constrained link): every queued detection goes before any baseline sample.
        `excluding`: classes of event not to send now (outside their upload window).
        """
        condition, classes = event_classes.excluding(excluding)
        query = (_CLAIM_DETECTIONS_FIRST if detections_first else _CLAIM_BY_TIME).format(condition)
        with self._database.locked() as sql:
            rows = sql.execute(query, (db.QUEUED, *classes, limit + len(self._in_flight))).fetchall()
            claimed = [QueuedEvent(event_id, _description(metadata), body_file, captured_at)
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
        with self._database.locked():
            if event_id in self._in_flight:
                self._in_flight.discard(event_id)
                self._attempts[event_id] += 1

    def retries_pending(self) -> int:
        """Failed attempts of events still queued (persisted as `retried` only when each event settles)."""
        with self._database.locked():
            return sum(self._attempts.values())

    def claims(self) -> tuple[frozenset[str], dict[str, int]]:
        """The events being sent now, and the failed attempts of each event still queued (memory only)."""
        with self._database.locked():
            return frozenset(self._in_flight), {key: value for key, value in self._attempts.items() if value}

    def _settle(self, event_id: str, state: str, reason: str | None, counter: str | None, *,
                http_status: int | None = None) -> None:
        with self._database.locked() as sql:
            attempts = self._attempts.pop(event_id, 0) + 1
            self._in_flight.discard(event_id)
            body_file = sql.execute(
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
                                     "deliveries; free space on the disk holding %s", space.RESERVE_BYTES,
                                     self._dir)
                self._counters.inc("reserve_released")
                self._record_settlement(event_id, state, reason, counter, attempts=attempts, http_status=http_status)
        if state != db.DEAD_LETTER:
            bodies.remove(self._bodies, body_file[0])
            self._reserve.restore()

    def _record_settlement(self, event_id: str, state: str, reason: str | None, counter: str | None, *,
                           attempts: int, http_status: int | None) -> None:
        with self._counts.change() as change:
            self._finish(change, event_id, state, reason, attempts=attempts, http_status=http_status)
            if counter:
                change.counts[counter] += 1
            change.counts["retried"] += attempts - 1  # attempts before the last, written once with the outcome

    def _finish(self, change: Change, event_id: str, state: str, reason: str | None, *,
                attempts: int = 0, http_status: int | None = None) -> None:
        """Move one queued row to its final state inside `change`; bodies go unless dead-lettered."""
        keep_body = state == db.DEAD_LETTER
        change.sql.execute(
            "UPDATE events SET state = ?, last_error = ?, http_status = ?, attempts = attempts + ?, finished_at = ?,"
            " body_file = CASE WHEN ? THEN body_file END, metadata = CASE WHEN ? THEN metadata END,"
            " body_bytes = CASE WHEN ? THEN body_bytes ELSE 0 END WHERE event_id = ?",
            (state, reason, http_status, attempts, self._clock(), keep_body, keep_body, keep_body, event_id))
        if state == db.EVICTED:
            change.counts[EVICTED_PREFIX + (reason or "unknown")] += 1

    # -- housekeeping ----------------------------------------------------------------------------

    def stored_bodies(self) -> dict[str, str]:
        """The body file of every event that keeps one (queued and dead letters), by event id."""
        with self._database.locked() as sql:
            return {event_id: body_file for event_id, body_file in sql.execute(
                "SELECT event_id, body_file FROM events WHERE state IN (?, ?)", (db.QUEUED, db.DEAD_LETTER))}

    def account_lost(self, event_ids: list[str]) -> None:
        """These events' bodies are gone (found at start-up): evicted as lost, in one transaction."""
        with self._counts.change() as change:
            for event_id in event_ids:
                self._finish(change, event_id, db.EVICTED, LOST_FILE_MISSING)

    def prune_tombstones(self, retention_s: float = TOMBSTONE_RETENTION_S) -> None:
        """Forget delivered/evicted events long after any resend could arrive (counters keep the totals)."""
        with self._database.transaction() as sql:
            sql.execute("DELETE FROM events WHERE state IN (?, ?) AND finished_at < ?",
                        (db.DELIVERED, db.EVICTED, self._clock() - retention_s))
