"""Watch the updater's candidate pointer (`<model_store_dir>/candidate.json`) with a cheap stat.

The pointer names a directory the updater has already downloaded and verified; the updater only
renames complete directories into place, so whatever the pointer names is whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CANDIDATE_NAME = "candidate.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    sha256: str
    model_dir: Path


class CandidateWatcher:
    def __init__(self, store_dir: Path) -> None:
        self._path = store_dir / CANDIDATE_NAME
        self._seen: tuple[int, int] | None = None

    def changed(self) -> Candidate | None:
        """The candidate, when the pointer changed since the last call; otherwise None."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._seen = None
            return None
        signature = (stat.st_mtime_ns, stat.st_ino)
        if signature == self._seen:
            return None
        self._seen = signature
        try:
            document = json.loads(self._path.read_text())
            directory = str(document["dir"])
            if not _SHA256.match(directory):
                return None  # not a name the updater writes; never follow a path out of the store
            return Candidate(str(document["id"]), str(document["name"]), str(document["sha256"]),
                             self._path.parent / directory)
        except (OSError, ValueError, KeyError, TypeError):
            return None
