"""Is the queue stuck behind one event? The rule behind the health check's "stuck head" failure.

An event is stuck when the target has answered `limit` of its attempts with a failure (any HTTP
status but 2xx) since the uploader started: the link works, yet this event does not get through,
and in capture-time order it holds up the events behind it. Timeouts and connection errors are an
outage, not a stuck event, and do not count. The mark goes as soon as the event is settled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from smartcam.uploader.outcomes import Outcome


@dataclass(frozen=True)
class StuckEvent:
    event_id: str
    refusals: int
    last: str


class StuckWatch:
    """Counts answered failures of the events being sent; thread-safe (delivery writes, health reads)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit  # 0: never report
        self._lock = threading.Lock()
        self._refusals: dict[str, StuckEvent] = {}

    def batch_done(self, results: list[tuple[str, Outcome | None, bool]]) -> None:
        """After one batch: (event id, outcome, settled) for each event of it.

        Only the latest batch is kept: delivery always claims the oldest events, so a stuck one is
        in every batch, and the memory stays as small as the batch.
        """
        with self._lock:
            kept: dict[str, StuckEvent] = {}
            for event_id, outcome, settled in results:
                seen = self._refusals.get(event_id)
                if settled or outcome is None:
                    continue
                if outcome.http_status is None:  # no answer: an outage, which is neither counted nor forgiven
                    if seen is not None:
                        kept[event_id] = seen
                    continue
                kept[event_id] = StuckEvent(event_id, (seen.refusals if seen else 0) + 1, outcome.detail)
            self._refusals = kept

    def stuck(self) -> StuckEvent | None:
        """The most refused event if it reached the limit, else None."""
        if self._limit <= 0:
            return None
        with self._lock:
            worst = max(self._refusals.values(), key=lambda event: event.refusals, default=None)
        return worst if worst is not None and worst.refusals >= self._limit else None
