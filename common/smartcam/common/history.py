"""Update history kept on disk: every update attempt (what, from, to, result, time, reason).

The file is a JSON list, newest last, rewritten atomically; the uploader reads it (read-only
volume) and reports it in its heartbeat, so an operator sees what a remote device did. The image and
model updater and the host's channel follower keep one each, with the same records.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from smartcam.common.files import write_json_durably

UpdateKind = Literal["service", "updater", "model", "checkout"]
UpdateResult = Literal["updated", "rolled_back", "rejected", "failed"]
KEEP_RECORDS = 200


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class UpdateRecord:
    kind: UpdateKind
    target: str  # service name, "updater", model name, or the checkout's branch
    from_ref: str | None  # image digest, model sha256 or git commit before
    to_ref: str  # image digest, model sha256 or git commit attempted
    result: UpdateResult
    reason: str
    at: str = field(default_factory=_now)


class UpdateHistory:
    """Append-only (bounded) record of updates in `<state_dir>/history.json`."""

    def __init__(self, path: Path, keep: int = KEEP_RECORDS) -> None:
        self._path = path
        self._keep = keep
        self._lock = threading.Lock()

    def records(self) -> list[UpdateRecord]:
        try:
            raw = json.loads(self._path.read_text())
        except FileNotFoundError:
            return []
        return [UpdateRecord(**item) for item in raw]

    def append(self, record: UpdateRecord) -> None:
        with self._lock:
            try:
                earlier = self.records()
            except (OSError, ValueError, TypeError) as error:
                # A damaged file (power cut on a card without journal, manual edit) must not stop the updates it
                # records: keep it for a post-mortem and start a new history.
                aside = self._path.with_name(self._path.name + ".damaged")
                self._path.replace(aside)
                logging.getLogger("smartcam").error("%s was damaged (%s: %s); moved to %s, starting a new history",
                                                    self._path, type(error).__name__, error, aside)
                earlier = []
            records = [*earlier, record][-self._keep:]
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_json_durably(self._path, [asdict(r) for r in records])
