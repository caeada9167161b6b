"""Versions that failed their health gate, kept on disk so a reboot does not retry them.

A version (image digest, git commit) stays bad for good: the channel must move to a newer one before
that thing is updated again. Keyed by what is updated (an image repository, the checkout), so one bad
infer build does not block capture.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from smartcam.common.files import write_json_durably


class BadDigests:
    """A JSON file such as `<state_dir>/bad-digests.json`: {"<repository>": ["sha256:...", ...]}."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[str]]:
        try:
            known = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            known = error
        if isinstance(known, dict) and all(isinstance(v, list) for v in known.values()):
            return known
        # A damaged file (power cut on a card without journal, manual edit): keep it for a post-mortem and start
        # over; the worst case is one more attempt at a version that failed before, gated on health again.
        aside = self._path.with_name(self._path.name + ".damaged")
        self._path.replace(aside)
        logging.getLogger("smartcam").error("%s was damaged (%s); moved to %s, starting with no bad versions",
                                            self._path, known if isinstance(known, Exception) else "not a map",
                                            aside)
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
