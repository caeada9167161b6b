"""The ledger: which due time of which entry was already handled, kept on disk across reboots.

An entry is marked `started` *before* its commands run and written with fsync, so a command that
reboots the machine (or a power cut) can never make the entry run a second time: at the next start
the entry is found `started` without a result and reported as interrupted instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartcam.common.files import write_json_durably

FORMAT_VERSION = 1


class LedgerError(Exception):
    """The ledger cannot be trusted; running anything could repeat commands, so the service stops."""


@dataclass
class Record:
    """What the ledger knows about one entry (keyed by `Entry.key`)."""

    text: str
    line: int
    last_due: float  # due time handled last; for a new recurring entry, the time it was first seen
    state: str  # baseline | started | done | failed | skipped | interrupted
    updated_at: float
    result: dict[str, Any] | None = field(default=None)


class Ledger:
    def __init__(self, path: Path, records: dict[str, Record]) -> None:
        self._path = path
        self._records = records

    @classmethod
    def load(cls, path: Path) -> Ledger:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError) as error:
            raise LedgerError(f"ledger {path} is unreadable ({error}); nothing runs until it is repaired or "
                              "moved aside (moving it aside forgets which entries already ran)") from None
        try:
            if document.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {document.get('version')!r}, expected {FORMAT_VERSION}")
            records = {key: Record(**value) for key, value in document["records"].items()}
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise LedgerError(f"ledger {path} has an unexpected layout ({error}); nothing runs until it is "
                              "repaired or moved aside") from None
        return cls(path, records)

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def records(self) -> dict[str, Record]:
        return dict(self._records)

    def put(self, key: str, record: Record) -> None:
        """Store the record and make it durable before returning."""
        self._records[key] = record
        document = {"version": FORMAT_VERSION, "records": {k: asdict(v) for k, v in self._records.items()}}
        write_json_durably(self._path, document)

