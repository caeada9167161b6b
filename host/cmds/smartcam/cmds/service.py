"""One poll of the cmds service: fetch, verify, parse, and run each due entry exactly once.

Nothing here trusts the network or the file: a failed fetch or a bad signature changes nothing and
is reported in the status file; a bad line is reported with its number while the others still run.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from smartcam.cmds.entries import Command, Entry, ParsedFile, parse
from smartcam.cmds.ledger import Ledger, LoadReport, Record
from smartcam.cmds.runner import CommandResult, run_command
from smartcam.cmds.schedule import Action, Decision, decide
from smartcam.cmds.settings import CmdsSettings
from smartcam.cmds.signature import SignatureError, verify
from smartcam.cmds.source import FetchError, fetch
from smartcam.cmds.status import recent_results, write_status
from smartcam.common.contracts.checkout_status import PollResult
from smartcam.common.contracts.cmds_status import CmdsStatus, LedgerReport, VerifiedFile
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind

RunCommand = Callable[[Command, float, int], CommandResult]


class CmdsService:
    def __init__(self, settings: CmdsSettings, logger: logging.Logger, counters: Counters,
                 stop: threading.Event | None = None, run: RunCommand = run_command,
                 *, now: float | None = None) -> None:
        self._settings = settings
        self._log = logger
        self._counters = counters
        self._stop = stop or threading.Event()
        self._run = run
        self._once = OncePerKind(logger, counters, "poll")
        self._source = settings.resolved_source()
        self._poll: dict[str, Any] = {"at": None, "ok": None, "error": None}
        self._file: dict[str, Any] = {"sha256": None, "entries": 0, "problems": []}
        self._ledger_once = OncePerKind(logger, counters, "ledger")
        self._ledger, report = Ledger.open(settings.ledger_file, settings.installed_marker_file,
                                           time.time() if now is None else now)
        self._ledger_status: dict[str, Any] = {"loaded_from": report.source, "lost_before": None,
                                               "damaged": report.damaged, "problems": []}
        self._report_load(report)
        try:
            self._report_interrupted()
        except OSError as error:
            self._ledger_problem("unwritable", f"cannot write the ledger {settings.ledger_file}: {error}")

    def _ledger_problem(self, kind: str, message: str) -> None:
        """Counted, logged once per kind, and kept (the last few) in the status file."""
        self._ledger_once.report(kind, message, logging.ERROR)
        self._ledger_status["problems"] = [*self._ledger_status["problems"], message][-5:]

    def _report_load(self, report: LoadReport) -> None:
        for problem in report.problems:
            self._ledger_problem("damaged" if "damaged" in problem else "unwritable", problem)
        if report.source == "backup":
            self._ledger_problem("restored_from_backup", f"the ledger {self._settings.ledger_file} was missing "
                                 "or damaged; continued from its backup copy, nothing is lost")
        elif report.source == "lost":
            self._ledger_problem("lost", f"the ledger {self._settings.ledger_file} and its backup are lost; "
                                 "one-shot entries due before now are skipped, not run (they may already have "
                                 "run; re-issue one with a new time if it must run), recurring ones count from now")

    @property
    def last_error(self) -> str | None:
        error: str | None = self._poll["error"]
        return error

    def poll(self, now: float | None = None) -> None:
        """Fetch and verify the file, then run what is due; always ends by rewriting the status file."""
        now = time.time() if now is None else now
        self._poll = {"at": now, "ok": False, "error": None}
        try:
            for problem in self._ledger.repair():
                self._ledger_problem("changed_on_disk", problem)
            self._ledger.rebase_lost_before(now)
        except OSError as error:
            self._ledger_problem("unwritable", f"cannot write the ledger {self._settings.ledger_file}: {error}")
        try:
            parsed = self._fetch_verified_file()
        except (FetchError, SignatureError) as error:
            # Logged once per outage or bad file (every poll would flood the journal), always counted.
            kind = "fetch_failed" if isinstance(error, FetchError) else "file_rejected"
            self._poll["error"] = str(error)
            self._once.report(kind, f"{kind.replace('_', ' ')}: {error}", logging.ERROR)
        else:
            self._poll["ok"] = True
            for kind in ("fetch_failed", "file_rejected"):
                self._once.forget(kind)
            try:
                self._run_due(parsed, now)
            except OSError as error:
                # The ledger is written before each run, so a failed write means nothing ran unrecorded.
                self._poll.update(ok=False, error=f"cannot write the ledger {self._settings.ledger_file}: {error}; "
                                                  "nothing more runs until it can be written")
                self._once.report("ledger_unwritable", self._poll["error"], logging.ERROR)
        self._write_status()

    def _fetch_verified_file(self) -> ParsedFile:
        fetched = fetch(self._source, self._settings.fetch_timeout_s)
        verify(fetched.data, fetched.signature, self._settings.public_key)
        try:
            text = fetched.data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SignatureError(f"custom_cmds is signed but not UTF-8 text (byte {error.start}); "
                                 "nothing runs") from None
        parsed = parse(text)
        digest = hashlib.sha256(fetched.data).hexdigest()
        if digest != self._file["sha256"]:
            self._log.info("verified custom_cmds %s (sha256 %s): %d entries, %d bad lines",
                           self._source, digest[:12], len(parsed.entries), len(parsed.problems))
            for problem in parsed.problems:
                self._counters.inc("bad_lines")
                self._log.error("custom_cmds line %d skipped: %s", problem.line, problem.message)
        self._file = {"sha256": digest, "entries": len(parsed.entries),
                      "problems": [{"line": p.line, "message": p.message} for p in parsed.problems]}
        return parsed

    def _run_due(self, parsed: ParsedFile, now: float) -> None:
        due_entries: list[tuple[float, Entry, float | None]] = []
        for entry in parsed.entries:
            record = self._ledger.get(entry.key)
            decision = decide(entry, record, now, self._settings.catch_up_window_s, self._ledger.lost_before)
            if decision.action is Action.BASELINE:
                self._ledger.put(entry.key, Record(entry.text, entry.line, now, "baseline", now))
            elif decision.action is Action.REBASE and record is not None:
                self._once.report("clock_went_back", f"line {entry.line}: its last due time {record.last_due:.0f} "
                                  f"is in the future of now ({now:.0f}): the clock went back; counting its due "
                                  "times from now", logging.WARNING)
                self._ledger.put(entry.key, replace(record, last_due=now, high_water=decision.high_water))
            elif decision.action is Action.SKIP_LOST and decision.due is not None:
                self._skip(entry, decision, now, "due before the ledger was lost; it may already have run, so it "
                                                 "is not run again (re-issue it with a new time if it must run)")
            elif decision.action is Action.SKIP_STALE and decision.due is not None:
                self._skip_stale(entry, decision, now)
            elif decision.action is Action.RUN and decision.due is not None:
                if decision.missed:
                    self._counters.inc("missed_collapsed", decision.missed)
                    self._log.warning("line %d: %d earlier due times were missed (device off or offline); "
                                      "running the latest one once", entry.line, decision.missed)
                due_entries.append((decision.due, entry, decision.high_water))
        for due, entry, high_water in sorted(due_entries, key=lambda item: (item[0], item[1].line)):
            if self._stop.is_set():
                return
            self._run_entry(entry, due, high_water)

    def _skip_stale(self, entry: Entry, decision: Decision, now: float) -> None:
        age_h = (now - (decision.due or now)) / 3600
        window_h = self._settings.catch_up_window_s / 3600
        self._counters.inc("skipped_stale", 1 + decision.missed)
        self._skip(entry, decision, now, f"due {age_h:.1f} h ago, older than the catch-up window of {window_h:.1f} "
                                         "h (SMARTCAM_CATCH_UP_WINDOW_S)")

    def _skip(self, entry: Entry, decision: Decision, now: float, reason: str) -> None:
        if decision.action is Action.SKIP_LOST:
            self._counters.inc("skipped_ledger_lost")
        self._log.warning("line %d skipped, not run: %s: %s", entry.line, reason, entry.text)
        # `updated_at` is the decision time: if the clock later goes back before it, the skip is decided again.
        self._ledger.put(entry.key, Record(entry.text, entry.line, decision.due or now, "skipped", now,
                                           {"reason": reason}, decision.high_water))

    def _run_entry(self, entry: Entry, due: float, high_water: float | None) -> None:
        # Durable before anything runs: a reboot inside a command must not make it run again.
        self._ledger.put(entry.key, Record(entry.text, entry.line, due, "started", time.time(), None, high_water))
        self._log.info("line %d due at %.0f: running %d command(s)", entry.line, due, len(entry.commands))
        results: list[CommandResult] = []
        for command in entry.commands:
            if self._stop.is_set():
                break
            result = self._run(command, self._settings.command_timeout_s, self._settings.output_tail_chars)
            results.append(result)
            self._log_result(entry, result)
            if not result.ok:
                break
        not_run = [command.text for command in entry.commands[len(results):]]
        if not_run:
            self._counters.inc("commands_not_run", len(not_run))
            self._log.warning("line %d: not run after the failure or stop: %s", entry.line, not_run)
        failed = bool(results) and not results[-1].ok
        state = "failed" if failed else ("interrupted" if not_run else "done")
        self._counters.inc(f"entries_{state}")
        self._ledger.put(entry.key, Record(entry.text, entry.line, due, state, time.time(),
                                           {"commands": [r.to_json() for r in results], "not_run": not_run},
                                           high_water))

    def _log_result(self, entry: Entry, result: CommandResult) -> None:
        self._counters.inc("commands_ok" if result.ok else "commands_failed")
        level = logging.INFO if result.ok else logging.ERROR
        self._log.log(level, "line %d: %r exit=%s%s in %.1fs; output tail: %s", entry.line, result.command,
                      result.exit_code, f" ({result.error})" if result.error else "", result.duration_s,
                      result.output_tail.strip()[-500:] or "(none)")

    def _report_interrupted(self) -> None:
        """Entries left `started` were cut off by a stop, crash or reboot: report them, never rerun."""
        for key, record in self._ledger.records().items():
            if record.state == "started":
                self._counters.inc("entries_interrupted")
                self._log.warning("line %d was interrupted while running (restart or reboot) and is not run "
                                  "again: %s", record.line, record.text)
                record.state, record.updated_at = "interrupted", time.time()
                record.result = {"reason": "the service or host stopped while it ran"}
                self._ledger.put(key, record)

    def _write_status(self) -> None:
        write_status(self._settings.status_file, CmdsStatus(
            updated_at=time.time(), channel=self._settings.channel, source=self._source,
            poll=PollResult.model_validate(self._poll), file=VerifiedFile.model_validate(self._file),
            recent=recent_results(self._ledger.records()),
            ledger=LedgerReport.model_validate(dict(self._ledger_status, lost_before=self._ledger.lost_before)),
            counters=self._counters.snapshot(),
        ))
