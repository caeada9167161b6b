"""Health file written by each service and read by its Docker healthcheck.

A service is healthy only while it keeps doing its work: it calls `HealthReporter.working()`
after each unit of work, and the healthcheck fails when that is older than `--max-age`.
A service that cannot work writes the reason, so `docker inspect` shows why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartcam.common.counters import Counters
from smartcam.common.files import write_json_atomically

# The default of SMARTCAM_HEALTH_FILE (declared in smartcam.common.settings.CommonSettings).
DEFAULT_HEALTH_FILE = "/run/smartcam/health.json"

_WRITE_INTERVAL_S = 1.0


class HealthReporter:
    """Keeps a small JSON health document up to date, rewriting it at most once a second."""

    def __init__(self, path: Path, service: str, counters: Counters | None = None) -> None:
        self._path = path
        self._service = service
        self._counters = counters or Counters()
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"service": service, "status": "starting", "reason": None,
                                       "last_work": None, "details": {}}
        self._last_write = 0.0
        self._started = time.time()
        self._providers: list[Callable[[], dict[str, Any]]] = []

    @property
    def counters(self) -> Counters:
        return self._counters

    def add_details(self, provider: Callable[[], dict[str, Any]]) -> None:
        """Merge `provider()` into the details each time the document is written (about once a second).

        For figures that cost something to compute (percentiles): they are worked out when reported,
        not on every unit of work.
        """
        self._providers.append(provider)

    def working(self, **details: Any) -> None:
        """Record that one unit of real work was done just now."""
        with self._lock:
            self._state.update(status="ok", reason=None, last_work=time.time())
            self._state["details"].update(details)
        self._write(force=False)

    def degraded(self, reason: str) -> None:
        """Still working, but something needs attention (kept healthy, reason shown)."""
        with self._lock:
            self._state["reason"] = reason
        self._write(force=True)

    def failing(self, reason: str) -> None:
        """The service cannot do its work; the healthcheck reports `reason`."""
        with self._lock:
            self._state.update(status="failing", reason=reason)
        self._write(force=True)

    def _write(self, force: bool) -> None:
        now = time.time()
        if not force and now - self._last_write < _WRITE_INTERVAL_S:
            return
        self._last_write = now
        provided: dict[str, Any] = {}
        for provider in self._providers:
            provided.update(provider())
        with self._lock:
            document = dict(self._state, details={**self._state["details"], **provided}, written_at=now,
                            uptime_s=round(now - self._started, 1), counters=self._counters.snapshot())
        write_json_atomically(self._path, document)


def evaluate(path: Path, max_age_s: float, now: float | None = None) -> tuple[bool, str]:
    """Decide health from the file: (healthy, one-line explanation)."""
    now = time.time() if now is None else now
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return False, f"no health file at {path}: the service has not started its work yet"
    except (OSError, ValueError) as error:
        return False, f"health file {path} unreadable: {error}"
    if state.get("status") == "failing":
        return False, f"failing: {state.get('reason')}"
    last_work = state.get("last_work")
    if last_work is None:
        return False, "starting: no work done yet"
    age = now - float(last_work)
    if age > max_age_s:
        why = f": {state['reason']}" if state.get("reason") else ""
        return False, f"stalled: last work {age:.0f}s ago (limit {max_age_s:.0f}s){why}"
    note = f" ({state['reason']})" if state.get("reason") else ""
    return True, f"ok: last work {age:.1f}s ago{note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Docker healthcheck: is the service doing its work?")
    # Read without pydantic: the healthcheck runs every few seconds and must start fast.
    parser.add_argument("--file", type=Path, default=Path(os.environ.get("SMARTCAM_HEALTH_FILE", DEFAULT_HEALTH_FILE)))
    parser.add_argument("--max-age", type=float, default=30.0, help="seconds since the last unit of work")
    args = parser.parse_args(argv)
    healthy, explanation = evaluate(args.file, args.max_age)
    print(explanation)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
