"""The uploader's durable queue: the one object main, delivery and the heartbeat use.

It opens the queue directory and puts the parts together, each in its own module:
`event_store` (the event ledger), `budget` (what goes when the disk budget is exceeded), `outbox`
(the heartbeat waiting to be sent), `facts` (small values kept across restarts), `counts`
(counters persisted with the changes they count), `recovery` (clean-up after a crash), all on one
`db.Database`. `snapshot()` shows everything it holds, read-only, for tests.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from smartcam.common.counters import Counters
from smartcam.common.wire import Event
from smartcam.uploader import bodies, db, facts, recovery, space
from smartcam.uploader.budget import Budget
from smartcam.uploader.counts import CounterStore
from smartcam.uploader.event_store import TOMBSTONE_RETENTION_S, EventStore, QueuedEvent, StoreRefusedError
from smartcam.uploader.figures import QueueFigures, read_figures
from smartcam.uploader.outbox import Outbox, OutboxMessage
from smartcam.uploader.recent import RecentErrors
from smartcam.uploader.snapshot import QueueSnapshot, read_snapshot

__all__ = ["LAST_MODEL_FACT", "EventQueue", "QueuedEvent", "StoreRefusedError"]

STOP_CHECK_S = 0.1
LAST_MODEL_FACT = facts.LAST_MODEL


class EventQueue:
    """Store-and-forward queue on `queue_dir`; safe to use from the receiving and delivering threads."""

    def __init__(self, queue_dir: Path, budget_bytes: int, logger: logging.Logger,
                 counters: Counters | None = None, *, clock: Callable[[], float] = time.time,
                 errors: RecentErrors | None = None) -> None:
        counters = counters or Counters()
        self._dir = queue_dir
        self._clock = clock
        self.errors = errors or RecentErrors()
        self._work = threading.Event()
        bodies_dir = bodies.bodies_dir(queue_dir)
        bodies_dir.mkdir(parents=True, exist_ok=True)
        self._database = db.Database(queue_dir)
        reserve = space.Reserve(queue_dir)
        reserve.restore()
        counts = CounterStore(self._database, counters)
        self._events = EventStore(self._database, counts, queue_dir, budget=Budget(budget_bytes, logger),
                                  reserve=reserve, logger=logger, counters=counters, errors=self.errors, clock=clock)
        self._outbox = Outbox(self._database, counts, clock)
        recovery.recover(bodies_dir, self._events, counters, logger)
        self._events.prune_tombstones()

    @property
    def directory(self) -> Path:
        """The queue directory: `queue.db`, `bodies/` and the disk reserve."""
        return self._dir

    # -- events ----------------------------------------------------------------------------------

    def put(self, event: Event) -> bool:
        """Store `event` durably (see `EventStore.put`); True if newly stored, False for a resend."""
        stored = self._events.put(event)
        if stored:
            self._work.set()
        return stored

    def has_queued(self, *, excluding: Collection[str] = ()) -> bool:
        return self._events.has_queued(excluding=excluding)

    def queued_by_class(self) -> dict[str, int]:
        return self._events.queued_by_class()

    def claim(self, limit: int, *, detections_first: bool = False, excluding: Collection[str] = ()
              ) -> list[QueuedEvent]:
        return self._events.claim(limit, detections_first=detections_first, excluding=excluding)

    def read_image(self, item: QueuedEvent) -> bytes:
        return self._events.read_image(item)

    def mark_delivered(self, event_id: str) -> None:
        self._events.mark_delivered(event_id)

    def dead_letter(self, event_id: str, http_status: int | None, reason: str) -> None:
        self._events.dead_letter(event_id, http_status, reason)

    def mark_lost(self, event_id: str, reason: str) -> None:
        self._events.mark_lost(event_id, reason)

    def release(self, event_id: str) -> None:
        self._events.release(event_id)

    def retries_pending(self) -> int:
        return self._events.retries_pending()

    def write_problem(self) -> str | None:
        return self._events.write_problem()

    def prune_tombstones(self, retention_s: float = TOMBSTONE_RETENTION_S) -> None:
        self._events.prune_tombstones(retention_s)

    # -- messages that are not events (the heartbeat) --------------------------------------------

    def put_message(self, kind: str, message_id: str, document: dict[str, Any]) -> None:
        """Store a message to send, replacing the unsent one of its kind (see `outbox`)."""
        self._outbox.put(kind, message_id, document)
        self._work.set()

    def pending_message(self, kind: str) -> OutboxMessage | None:
        return self._outbox.pending(kind)

    def message_done(self, kind: str, message_id: str, counter: str) -> None:
        self._outbox.done(kind, message_id, counter)

    def fact(self, name: str) -> str | None:
        with self._database.locked() as connection:
            return facts.read(connection, name)

    def set_fact(self, name: str, value: str) -> None:
        with self._database.locked() as connection:
            facts.write(connection, name, value)

    # -- waiting, reading, closing ---------------------------------------------------------------

    def wait_for_work(self, timeout_s: float, stop: threading.Event) -> None:
        """Sleep until an event or message is stored, `stop` is set, or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self._work.wait(min(remaining, STOP_CHECK_S)):
                break
        self._work.clear()

    def figures(self) -> QueueFigures:
        with self._database.locked() as connection:
            return read_figures(connection, self._clock())

    def snapshot(self) -> QueueSnapshot:
        """Everything the queue holds, stored and in memory, as one consistent read-only copy."""
        with self._database.locked() as connection:
            stored = read_snapshot(connection)
            in_flight, attempts = self._events.claims()
        return dataclasses.replace(stored, in_flight=in_flight, unsaved_attempts=attempts)

    def close(self) -> None:
        self._database.close()
