"""Atomic and durable file writes, shared by every service that keeps state on disk.

Atomic: a reader sees the old file or the new one, never half of it (temp name + rename).
Durable: additionally fsynced, file and directory, so a power cut on a field device leaves
either the old state or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation inside `directory` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as handle:
        temporary = Path(handle.name)
        try:
            # Readable by the other services (mkstemp makes 0600): status files written by root on the host
            # are read by the uploader's unprivileged user through a read-only mount.
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, path)
    if durable:
        fsync_directory(path.parent)


def write_bytes_durably(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably; on failure no temporary file is left."""
    _replace(path, data, durable=True)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (no fsync: for files on tmpfs or easily rebuilt)."""
    _replace(path, data, durable=False)


def write_json_atomically(path: Path, document: dict[str, Any] | list[Any]) -> None:
    """Replace `path` with `document` atomically (no fsync: for files on tmpfs or easily rebuilt)."""
    _replace(path, json.dumps(document).encode(), durable=False)


def write_json_durably(path: Path, document: dict[str, Any] | list[Any]) -> None:
    """Replace `path` with `document` atomically and durably."""
    _replace(path, json.dumps(document).encode(), durable=True)
