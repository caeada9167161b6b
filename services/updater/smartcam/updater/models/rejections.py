"""Remember rejected publications, so a bad model is not downloaded again at every poll.

Keyed by the digest of the whole published manifest, not the model's sha256: a publisher who fixes
the manifest of a good file (wrong input size, decoder) gets it tried again at once. The same
publication is tried again after `retry_after_s`, in case the file on the server was fixed in place.
Kept on the models volume, so the memory survives a restart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from smartcam.common.files import write_json_durably

REJECTIONS_NAME = "rejected.json"
KEEP = 50


class Rejections:
    def __init__(self, root: Path, retry_after_s: float) -> None:
        self._path = root / REJECTIONS_NAME
        self._retry_after_s = retry_after_s

    def _load(self) -> dict[str, float]:
        try:
            return {str(key): float(value) for key, value in json.loads(self._path.read_text()).items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError):  # damaged: forgetting means one more download, no harm
            return {}

    def blocks(self, manifest_digest: str) -> bool:
        rejected_at = self._load().get(manifest_digest)
        return rejected_at is not None and time.time() - rejected_at < self._retry_after_s

    def add(self, manifest_digest: str) -> None:
        entries = {**self._load(), manifest_digest: time.time()}
        newest = dict(sorted(entries.items(), key=lambda item: item[1])[-KEEP:])
        write_json_durably(self._path, newest)
