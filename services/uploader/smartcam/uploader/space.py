"""Disk space the queue keeps for itself, so a full disk can never wedge it.

Recording a delivery needs a few pages of SQLite WAL. If the disk were completely full (other
files grew, or events filled it), nothing could be marked delivered, so no image could be
removed, so the disk would stay full: a deadlock. Two guards prevent it:

- headroom: a new event is refused (counted, infer keeps it and resends) when storing it would
  leave less than `HEADROOM_BYTES` free, so the queue's own events never fill the disk;
- reserve: a file of `RESERVE_BYTES` kept in the queue directory. When something else filled
  the disk and a delivery cannot be recorded, the reserve is deleted and the write retried; it
  is put back once space allows.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

HEADROOM_BYTES = 512 * 1024
RESERVE_BYTES = 256 * 1024
RESERVE_NAME = "reserve.bin"


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


def free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def room_for(directory: Path, size: int) -> bool:
    """Whether `size` more bytes still leave the headroom free."""
    return free_bytes(directory) - size >= HEADROOM_BYTES


class Reserve:
    """The reserve file: `restore` when space allows, `release` when a queue write hits a full disk."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RESERVE_NAME

    @property
    def held(self) -> bool:
        return self.path.exists()

    def restore(self) -> bool:
        """Create the reserve if missing and the disk has room for it and the headroom; True if held."""
        if self.held:
            return True
        if not room_for(self.path.parent, RESERVE_BYTES):
            return False
        temporary = self.path.with_suffix(".tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(b"\0" * RESERVE_BYTES)  # real blocks, not a sparse file
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)
            return False
        return True

    def release(self) -> bool:
        """Free the reserve's space; False if there was none to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
