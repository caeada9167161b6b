"""JPEG bodies as plain files next to the database, written so a crash never leaves half a file.

Bodies stay out of SQLite so the database (and its WAL) stays small and every delivery does not
rewrite megabytes. A body is written to a temporary name, fsynced, renamed, and the directory is
fsynced, so after `write_durably` returns the file exists under its final name with all its bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from smartcam.common.files import write_bytes_durably

BODIES_DIR = "bodies"
TEMP_SUFFIX = ".tmp"
BODY_SUFFIX = ".jpg"


def bodies_dir(queue_dir: Path) -> Path:
    return queue_dir / BODIES_DIR


def body_name(event_id: str) -> str:
    """A safe file name derived from the event id (which comes off the network and may hold anything).

    Deterministic, so a resent event after a crash rewrites the same file rather than leaking one.
    """
    return hashlib.sha256(event_id.encode()).hexdigest()[:40] + BODY_SUFFIX


def write_durably(directory: Path, name: str, data: bytes) -> None:
    """Write `data` to `directory/name` so it survives a power cut once this returns; raise OSError if not."""
    write_bytes_durably(directory / name, data)


def remove(directory: Path, name: str) -> None:
    """Delete a body that is no longer needed; a missing file is fine (the job is done either way)."""
    (directory / name).unlink(missing_ok=True)


def temporary_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + TEMP_SUFFIX))


def body_files(directory: Path) -> set[str]:
    return {path.name for path in directory.glob("*" + BODY_SUFFIX)}
