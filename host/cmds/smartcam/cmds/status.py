"""The status file the uploader's heartbeat reads: /var/lib/smartcam/cmds/status.json.

Its fields are typed once, in `smartcam.common.contracts.cmds_status.CmdsStatus` (the uploader reads it with
the same model). In short (all times are seconds since 1970, UTC):
- `service`, `updated_at`, `channel`, `source`: who wrote it, when, and from where custom_cmds came.
- `poll`: the last poll: `at`, `ok` (the file was fetched *and* its signature valid), `error` (why not).
- `file`: the last verified file: `sha256`, `entries`, `problems` (`line` + `message` of each bad line).
- `recent`: the last results, newest first: `line`, `entry`, `due`, `state` (done, failed, skipped,
  interrupted), `updated_at`, and for runs `result.commands`, each with `command`, `exit_code`,
  `timed_out`, `duration_s`, `output_tail`, `error`.
- `ledger`: how the ledger was found at start: `loaded_from` (ledger, backup, new, lost), `lost_before`
  (one-shot entries due before it without a record are skipped, never run), `damaged` (copies set aside
  as `*.damaged`), `problems` (the last few damage or write problems).
- `counters`: running totals (runs, failures, skips, rejected files, bad lines...) since start.
"""

from __future__ import annotations

from pathlib import Path

from smartcam.cmds.ledger import Record
from smartcam.common.contracts.base import write_document
from smartcam.common.contracts.cmds_status import CmdsStatus, EntryResult

RECENT_RESULTS = 20
_REPORTED_STATES = ("done", "failed", "skipped", "interrupted")


def recent_results(records: dict[str, Record]) -> list[EntryResult]:
    reported = [record for record in records.values() if record.state in _REPORTED_STATES]
    reported.sort(key=lambda record: record.updated_at, reverse=True)
    return [EntryResult(line=record.line, entry=record.text, due=record.last_due, state=record.state,
                        updated_at=record.updated_at, result=record.result) for record in reported[:RECENT_RESULTS]]


def write_status(path: Path, status: CmdsStatus) -> None:
    write_document(path, status)
