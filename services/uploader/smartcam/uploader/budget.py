"""The disk budget for stored images: which queued events go when a new one would exceed it.

Baseline samples go before detections, oldest first (by capture time); dead letters are never
evicted (they count against the budget all the same), and neither are events being sent right now.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Container
from dataclasses import dataclass

from smartcam.uploader import db

EVICTED_SAMPLE = "over_budget_sample"
EVICTED_DETECTION = "over_budget_detection"


@dataclass(frozen=True)
class Candidate:
    """A queued event that may be evicted."""

    event_id: str
    body_file: str
    size: int
    sample: bool

    @property
    def reason(self) -> str:
        return EVICTED_SAMPLE if self.sample else EVICTED_DETECTION


def choose(used: int, budget: int, candidates: list[Candidate], spared: Container[str]) -> list[Candidate]:
    """The candidates to evict, taken in the given order (skipping `spared`) until `used` fits `budget`."""
    chosen: list[Candidate] = []
    for candidate in candidates:
        if used <= budget:
            break
        if candidate.event_id in spared:
            continue
        chosen.append(candidate)
        used -= candidate.size
    return chosen


class Budget:
    """`budget_bytes` for the images of queued events and dead letters."""

    def __init__(self, budget_bytes: int, logger: logging.Logger) -> None:
        self.bytes = budget_bytes
        self._logger = logger
        self._logged: set[str] = set()

    def over_budget(self, sql: sqlite3.Connection, spared: Container[str]) -> list[Candidate]:
        """Within the caller's transaction: the queued events to evict so the stored images fit again."""
        used = sql.execute("SELECT COALESCE(SUM(body_bytes), 0) FROM events WHERE state IN (?, ?)",
                           (db.QUEUED, db.DEAD_LETTER)).fetchone()[0]
        if used <= self.bytes:
            return []
        candidates = [Candidate(event_id, body_file, size, bool(sample)) for event_id, body_file, size, sample in
                      sql.execute("SELECT event_id, body_file, body_bytes, sample FROM events WHERE state = ?"
                                  " ORDER BY sample DESC, captured_at, rowid", (db.QUEUED,))]
        return choose(used, self.bytes, candidates, spared)

    def log_eviction(self, event_id: str, reason: str) -> None:
        """The first eviction of each reason is a warning with the fix; later ones are only counted."""
        first = reason not in self._logged
        self._logged.add(reason)
        self._logger.log(
            logging.WARNING if first else logging.DEBUG,
            "evicted event %s (%s): queued images exceed the %g MB disk budget; raise SMARTCAM_QUEUE_BUDGET_MB "
            "or fix the upload link%s", event_id, reason, self.bytes / 1024 / 1024,
            " (further evictions are counted in `smartcam status`)" if first else "")
