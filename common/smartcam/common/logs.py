"""Logging set-up and log-once helpers, so a flood of bad input produces one line, not millions."""

from __future__ import annotations

import logging
import sys
import threading

from smartcam.common.counters import Counters

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(service: str, level: str = "INFO") -> logging.Logger:
    """Configure root logging to stderr (Docker collects it) and return the service's logger."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=_FORMAT, force=True)
    return logging.getLogger(f"smartcam.{service}")


class OncePerKind:
    """Counts occurrences per kind and logs only the first of each kind.

    Used for malformed input and recurring outages: the count keeps the full picture,
    the log stays readable.
    """

    def __init__(self, logger: logging.Logger, counters: Counters, counter_prefix: str) -> None:
        self._logger = logger
        self._counters = counters
        self._prefix = counter_prefix
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def report(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        self._counters.inc(f"{self._prefix}.{kind}")
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
        if first:
            self._logger.log(
                level, "%s (first of its kind; further ones are only counted as %s.%s)",
                message, self._prefix, kind,
            )

    def forget(self, kind: str) -> None:
        """Allow the next occurrence of `kind` to be logged again, e.g. when an outage ends."""
        with self._lock:
            self._seen.discard(kind)
