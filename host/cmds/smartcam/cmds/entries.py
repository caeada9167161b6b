"""The custom_cmds format: one entry per line, `SCHEDULE @ COMMAND [@ COMMAND ...]`.

SCHEDULE is either an epoch (seconds since 1970, UTC: run once at that time, the older form) or a
five-field cron expression evaluated in UTC (recurring). A COMMAND is split into argv with POSIX
shell quoting and run without a shell, unless it starts with `sh:`, in which case the rest of it is
given to `/bin/sh -c`. A lone `@` always separates commands. `#` starts a comment line.

Parsing never raises on bad input: each bad line becomes a `Problem` with its line number, so the
valid lines still run and the operator sees exactly what to fix.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

from croniter import croniter

SHELL_PREFIX = "sh:"
_SEPARATOR = re.compile(r"(?:^|\s)@(?=\s|$)")
_CRON_FIELDS = 5
# Epochs above this are almost surely milliseconds (year 5138 in seconds).
_MAX_EPOCH = 10**11


@dataclass(frozen=True)
class Command:
    """One command of an entry: an argv run directly, or a shell script when the line asked for one."""

    text: str
    argv: tuple[str, ...]
    shell: bool

    @property
    def args(self) -> list[str]:
        return ["/bin/sh", "-c", self.argv[0]] if self.shell else list(self.argv)


@dataclass(frozen=True)
class Entry:
    """One valid line: when it is due and what it runs."""

    line: int
    schedule: str
    epoch: int | None  # set for one-shot entries
    cron: str | None  # set for recurring entries
    commands: tuple[Command, ...]

    @property
    def key(self) -> str:
        """Stable identity for the ledger: the same schedule and commands are the same entry."""
        normalized = " @ ".join([self.schedule, *(command.text for command in self.commands)])
        return hashlib.sha256(normalized.encode()).hexdigest()[:32]

    @property
    def text(self) -> str:
        return " @ ".join([self.schedule, *(command.text for command in self.commands)])


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass(frozen=True)
class ParsedFile:
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]


class _LineError(ValueError):
    pass


def parse(text: str) -> ParsedFile:
    """Parse a whole custom_cmds file; bad and duplicate lines become problems, never exceptions."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = parse_line(line, number)
        except _LineError as error:
            problems.append(Problem(number, str(error)))
            continue
        if entry.key in first_line_of:
            problems.append(Problem(number, f"duplicate of line {first_line_of[entry.key]}; "
                                            "an entry runs once per due time, remove one of them"))
            continue
        first_line_of[entry.key] = number
        entries.append(entry)
    return ParsedFile(tuple(entries), tuple(problems))


def parse_line(line: str, number: int) -> Entry:
    parts = [part.strip() for part in _SEPARATOR.split(line)]
    if len(parts) < 2:
        raise _LineError("missing ' @ ' between the schedule and the command "
                         "(write: SCHEDULE @ COMMAND [@ COMMAND ...])")
    schedule, *command_texts = parts
    epoch, cron = _parse_schedule(" ".join(schedule.split()))
    commands = tuple(_parse_command(text, index) for index, text in enumerate(command_texts, start=1))
    return Entry(number, " ".join(schedule.split()), epoch, cron, commands)


def _parse_schedule(schedule: str) -> tuple[int | None, str | None]:
    fields = schedule.split()
    if not fields:
        raise _LineError("empty schedule before '@'; write an epoch (e.g. 1767225600) or a cron expression")
    if len(fields) == 1:
        token = fields[0]
        if not token.isdigit():
            raise _LineError(f"bad epoch {token!r}: expected whole seconds since 1970 UTC, e.g. 1767225600 "
                             "(or a five-field cron expression)")
        epoch = int(token)
        if epoch > _MAX_EPOCH:
            raise _LineError(f"bad epoch {token!r}: too large, looks like milliseconds; divide by 1000")
        return epoch, None
    if len(fields) != _CRON_FIELDS:
        raise _LineError(f"bad schedule {schedule!r}: {len(fields)} fields; use one epoch or a cron expression "
                         "of five fields (minute hour day-of-month month day-of-week)")
    if not croniter.is_valid(schedule):
        raise _LineError(f"bad cron expression {schedule!r}: see `man 5 crontab` "
                         "(minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)")
    return None, schedule


def _parse_command(text: str, index: int) -> Command:
    if not text:
        raise _LineError(f"empty command #{index}: remove the extra '@' or write a command after it")
    if text.startswith(SHELL_PREFIX):
        script = text.removeprefix(SHELL_PREFIX).strip()
        if not script:
            raise _LineError(f"empty command #{index}: 'sh:' must be followed by a shell command")
        return Command(text, (script,), shell=True)
    try:
        argv = tuple(shlex.split(text))
    except ValueError as error:
        raise _LineError(f"command #{index} {text!r}: {error} (fix the quoting)") from None
    if not argv:
        raise _LineError(f"empty command #{index}")
    return Command(text, argv, shell=False)
