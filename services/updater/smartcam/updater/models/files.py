"""Durable writes on the shared models volume: temp name, fsync, rename, fsync the directory.

A power cut on a field device must leave either the old state or the new one, never a
half-written model or pointer that infer could pick up.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_durably(path: Path, document: dict[str, Any]) -> None:
    """Replace `path` atomically with `document`, surviving a power cut."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
        temporary = Path(handle.name)
    os.replace(temporary, path)
    fsync_dir(path.parent)
