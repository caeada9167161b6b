"""Watch the updater's candidate pointer (`<models_dir>/candidate.json`) with a cheap stat.

The pointer names a directory the updater has already downloaded and verified; the updater only
renames complete directories into place, so whatever the pointer names is whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from smartcam.common.contracts.model_exchange import CANDIDATE_NAME, read_candidate


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    sha256: str
    model_dir: Path


class CandidateWatcher:
    def __init__(self, store_dir: Path, logger: logging.Logger | None = None) -> None:
        self._path = store_dir / CANDIDATE_NAME
        self._logger = logger
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
            offer = read_candidate(self._path.parent)  # refuses any directory that is not a sha256 name
        except (OSError, ValueError) as error:  # logged once per change of the file (damaged, foreign or newer)
            if self._logger is not None:
                self._logger.error("ignoring the model offer: %s", error)
            return None
        if offer is None:
            return None
        return Candidate(offer.id, offer.name, offer.sha256, self._path.parent / offer.dir)
