"""Update history kept on disk: every update attempt (what, from, to, result, time, reason).

The document is `smartcam.common.contracts.history` (newest record last), rewritten durably; the
uploader reads it (read-only volume) and reports it in its heartbeat, so an operator sees what a
remote device did. The image and model updater and the host's channel follower keep one each.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from smartcam.common.contracts.base import DocumentError, DocumentVersionError, read_document, write_document
from smartcam.common.contracts.history import UpdateHistoryDocument, UpdateKind, UpdateRecord, UpdateResult

__all__ = ["KEEP_RECORDS", "UpdateHistory", "UpdateKind", "UpdateRecord", "UpdateResult"]
KEEP_RECORDS = 200


class UpdateHistory:
    """Append-only (bounded) record of updates in `<state_dir>/history.json`."""

    def __init__(self, path: Path, keep: int = KEEP_RECORDS) -> None:
        self._path = path
        self._keep = keep
        self._lock = threading.Lock()

    def records(self) -> list[UpdateRecord]:
        """The records, oldest first; DocumentError (a ValueError) if the file is damaged or newer."""
        document = read_document(UpdateHistoryDocument, self._path)
        return list(document.records) if document is not None else []

    def append(self, record: UpdateRecord) -> None:
        with self._lock:
            try:
                earlier = self.records()
            except DocumentError as error:
                # A damaged file (power cut on a card without journal, manual edit), or one a newer version
                # wrote before a rollback, must not stop the updates it records: keep it for a post-mortem
                # and start a new history.
                aside = self._path.with_name(self._path.name + ".damaged")
                self._path.replace(aside)
                what = "is newer than this service" if isinstance(error, DocumentVersionError) else "was damaged"
                logging.getLogger("smartcam").error("%s %s (%s); moved to %s, starting a new history",
                                                    self._path, what, error, aside)
                earlier = []
            records = [*earlier, record][-self._keep:]
            write_document(self._path, UpdateHistoryDocument(records=records))
