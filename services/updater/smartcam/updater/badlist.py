"""Digests that failed their health gate, kept under the state dir so a reboot does not retry them.

A digest stays bad for good: the channel tag must move to a newer digest before that service
is updated again. Keyed by image repository, so one bad infer build does not block capture.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from smartcam.common.files import write_json_durably


class BadDigests:
    """`<state_dir>/bad-digests.json`: {"<repository>": ["sha256:...", ...]}."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[str]]:
        try:
            return json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}

    def is_bad(self, repository: str, digest: str) -> bool:
        with self._lock:
            return digest in self._load().get(repository, [])

    def mark(self, repository: str, digest: str) -> None:
        with self._lock:
            known = self._load()
            if digest not in known.setdefault(repository, []):
                known[repository].append(digest)
                write_json_durably(self._path, known)
