"""Crash recovery at start-up: make the image files and the event rows agree again.

A crash (or power cut) can leave a half-written body (its event was never acknowledged, infer
resends it), a body whose row never committed, or a row whose body someone deleted. Each is
cleaned up and counted; a lost body is accounted as evicted (`lost_file_missing`), never silently.
"""

from __future__ import annotations

import logging
from pathlib import Path

from smartcam.common.counters import Counters
from smartcam.uploader import bodies
from smartcam.uploader.event_store import LOST_FILE_MISSING, EventStore

LOST_LISTED = 10  # event ids named in the log line about lost bodies


def recover(bodies_dir: Path, store: EventStore, counters: Counters, logger: logging.Logger) -> None:
    """Remove half-written files, account for rows whose body vanished, drop bodies no row owns."""
    for temporary in bodies.temporary_files(bodies_dir):
        temporary.unlink(missing_ok=True)
        counters.inc("orphan_temp_files_removed")
        logger.info("removed %s, a body half-written before a crash (its event was never acknowledged)",
                    temporary.name)
    present = bodies.body_files(bodies_dir)
    owned = store.stored_bodies()
    missing = [event_id for event_id, body_file in owned.items() if body_file not in present]
    if missing:
        store.account_lost(missing)
        logger.error("%d stored events lost their image file (someone deleted files in %s?); counted as "
                     "evicted.%s: %s", len(missing), bodies_dir, LOST_FILE_MISSING,
                     ", ".join(missing[:LOST_LISTED]) + (" ..." if len(missing) > LOST_LISTED else ""))
    for orphan in sorted(present - set(owned.values())):
        bodies.remove(bodies_dir, orphan)
        counters.inc("orphan_bodies_removed")
        logger.info("removed %s, a body with no queued event (stored just before a crash, never "
                    "acknowledged, or already delivered)", orphan)
