"""The ledger: which due time of which entry was already handled, kept on disk across reboots.

An entry is marked `started` *before* its commands run and written with fsync, so a command that
reboots the machine (or a power cut) can never make the entry run a second time: at the next start
the entry is found `started` without a result and reported as interrupted instead.

Losing the ledger must not run anything twice, and damage must not silence the device's only remote
maintenance channel. So:
- Every write goes to `ledger.json` and then, identical, to `ledger.json.bak` (both atomic and fsynced,
  numbered by `seq`, with a checksum). On start the valid copy with the highest `seq` is used; a copy
  that is unreadable, truncated, garbled or fails its checksum is set aside as `*.damaged`, reported,
  and the service goes on.
- While running, the in-memory ledger is the truth: a copy found deleted or changed on disk at a poll
  is set aside and written again.
- `installed_at` is written with the first-ever ledger. If both copies are lost and that marker
  exists (or a damaged copy was found), the ledger is *lost*: `lost_before` is set to that moment and every
  one-shot entry due at or before it without a record is skipped, never run (it may already have
  run); recurring entries re-baseline. Without the marker it is a first start and nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartcam.common.files import write_bytes_durably

FORMAT_VERSION = 1
BACKUP_SUFFIX = ".bak"
DAMAGED_SUFFIX = ".damaged"
STATES = ("baseline", "started", "done", "failed", "skipped", "interrupted")


class LedgerError(Exception):
    """A copy of the ledger cannot be trusted (unreadable, truncated, garbled)."""


@dataclass
class Record:
    """What the ledger knows about one entry (keyed by `Entry.key`)."""

    text: str
    line: int
    last_due: float  # due time handled last; for a new recurring entry, the time it was first seen
    state: str  # baseline | started | done | failed | skipped | interrupted
    updated_at: float
    result: dict[str, Any] | None = field(default=None)
    # The latest due time handled before the clock went back; due times up to it never run again.
    high_water: float | None = None


@dataclass
class LoadReport:
    """How the ledger was found at start, for the log and the status file."""

    source: str  # ledger | backup | new (first-ever start) | lost (both copies gone: see lost_before)
    damaged: list[str] = field(default_factory=list)  # copies set aside as *.damaged
    problems: list[str] = field(default_factory=list)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _record(value: object) -> Record:
    if not isinstance(value, dict):
        raise ValueError("a record is not an object")
    record = Record(**value)
    if not (isinstance(record.text, str) and isinstance(record.line, int) and _number(record.last_due)
            and record.state in STATES and _number(record.updated_at)
            and (record.result is None or isinstance(record.result, dict))
            and (record.high_water is None or _number(record.high_water))):
        raise ValueError(f"a record has a wrong field: {value!r:.200}")
    return record


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _decode(data: bytes) -> tuple[int, float | None, dict[str, Record]]:
    """`seq`, `lost_before` and the records of one copy, or LedgerError saying what is wrong."""
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} ledger")
        checksum = document.pop("sha256", None)
        if "seq" in document and checksum != _checksum(document):
            raise ValueError("checksum mismatch (changed after it was written)")
        seq, lost_before = document.get("seq", 0), document.get("lost_before")
        if not isinstance(seq, int) or not (lost_before is None or _number(lost_before)):
            raise ValueError("bad seq or lost_before")
        records = {str(key): _record(value) for key, value in document["records"].items()}
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as error:
        raise LedgerError(str(error) or type(error).__name__) from None
    return seq, lost_before, records


class Ledger:
    def __init__(self, path: Path, marker: Path, records: dict[str, Record], seq: int = 0,
                 lost_before: float | None = None) -> None:
        self._path = path
        self._marker = marker
        self._marked = False
        self._backup = Path(f"{path}{BACKUP_SUFFIX}")
        self._records = records
        self._seq = seq
        self.lost_before = lost_before  # one-shot entries due at or before it without a record never run
        self._written: bytes | None = None

    @classmethod
    def open(cls, path: Path, installed_marker: Path, now: float) -> tuple[Ledger, LoadReport]:
        """Load the best copy; damaged copies are set aside, never fatal. Problems writing are reported."""
        report = LoadReport("new")
        best: tuple[int, float | None, dict[str, Record], str] | None = None
        valid: list[bytes] = []
        for copy, name in ((path, "ledger"), (Path(f"{path}{BACKUP_SUFFIX}"), "backup")):
            try:
                data = copy.read_bytes()
                seq, lost_before, records = _decode(data)
            except FileNotFoundError:
                continue
            except (OSError, LedgerError) as error:
                report.problems.append(f"{copy} is damaged ({getattr(error, 'strerror', None) or error})")
                report.damaged.append(_set_aside(copy, report))
                continue
            valid.append(data)
            if best is None or seq > best[0]:
                best = (seq, lost_before, records, name)
        if best is not None:
            ledger = cls(path, installed_marker, best[2], best[0], best[1])
            report.source = best[3]
        else:
            lost = installed_marker.exists() or bool(report.damaged)
            ledger = cls(path, installed_marker, {}, 0, now if lost else None)
            report.source = "lost" if lost else "new"
        try:
            if len(valid) == 2 and valid[0] == valid[1]:
                ledger._written = valid[0]
            elif report.source != "new":  # a new ledger has nothing to keep yet
                ledger.save()  # both copies present, equal and valid from here on
        except OSError as error:
            report.problems.append(f"cannot write {path.parent}: {error}")
        return ledger, report

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def records(self) -> dict[str, Record]:
        return dict(self._records)

    def put(self, key: str, record: Record) -> None:
        """Store the record and make it durable (both copies) before returning."""
        self._records[key] = record
        self.save()

    def rebase_lost_before(self, now: float) -> None:
        """The clock went back before the loss: only one-shots due before now can have run."""
        if self.lost_before is not None and self.lost_before > now:
            self.lost_before = now
            self.save()

    def save(self) -> None:
        if not self._marked:
            if not self._marker.exists():
                write_bytes_durably(self._marker, f"{time.time()}\n".encode())
            self._marked = True
        self._seq += 1
        data = self._encode()
        write_bytes_durably(self._path, data)
        write_bytes_durably(self._backup, data)
        self._written = data

    def repair(self) -> list[str]:
        """Rewrite a copy deleted or changed on disk since it was written; the changed one is set aside."""
        if self._written is None:
            return []
        problems = []
        for copy in (self._path, self._backup):
            try:
                if copy.read_bytes() == self._written:
                    continue
                problems.append(f"{copy} was changed on disk while the service ran; set aside as "
                                f"{copy}{DAMAGED_SUFFIX} and written again")
                os.replace(copy, f"{copy}{DAMAGED_SUFFIX}")
            except FileNotFoundError:
                problems.append(f"{copy} was deleted while the service ran; written again")
        if problems:
            self.save()
        return problems

    def _encode(self) -> bytes:
        body: dict[str, Any] = {"version": FORMAT_VERSION, "seq": self._seq, "lost_before": self.lost_before,
                                "records": {key: asdict(record) for key, record in self._records.items()}}
        return json.dumps(dict(body, sha256=_checksum(body))).encode()


def _set_aside(copy: Path, report: LoadReport) -> str:
    target = f"{copy}{DAMAGED_SUFFIX}"
    try:
        os.replace(copy, target)
    except OSError as error:
        report.problems.append(f"cannot move {copy} aside: {error.strerror}")
    return target
