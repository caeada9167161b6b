"""The custom_cmds format: one entry per line, `SCHEDULE @ COMMAND [@ COMMAND ...]`.

SCHEDULE is either an epoch (seconds since 1970, UTC: run once at that time, the older form) or a
five-field cron expression evaluated in UTC (recurring). A COMMAND is split into argv with POSIX
shell quoting and run without a shell, unless it starts with `sh:`, in which case the rest of it is
given to `/bin/sh -c`. A lone `@` always separates commands. `#` starts a comment line.

Lines are split on `\n` only (a `\r` right before it is tolerated), so line numbers are the ones an
editor shows. Any other control or invisible formatting character (NUL, a lone CR, form feed, U+2028,
the bidirectional overrides...) makes its line a problem, comment lines included: such a character
can make a line look different from what runs. Tab is the one allowed. A UTF-8 byte-order mark at the
very start is dropped.

Parsing never raises on bad input: each bad line becomes a `Problem` with its line number, so the
valid lines still run and the operator sees exactly what to fix.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import unicodedata
from dataclasses import dataclass

from croniter import croniter

SHELL_PREFIX = "sh:"
_SEPARATOR = re.compile(r"(?:^|\s)@(?=\s|$)")
_CRON_FIELDS = 5
# Epochs above this are almost surely milliseconds (year 5138 in seconds).
_MAX_EPOCH = 10**11
_BYTE_ORDER_MARK = "\ufeff"
_ALLOWED_CONTROLS = frozenset("\t")
# Cc: C0/C1 controls (NUL, CR, FF, VT, NEL...); Cf: invisible formatting (bidi overrides and isolates,
# zero-width characters, a byte-order mark inside the text); Zl/Zp: U+2028/U+2029; Cs: lone surrogates.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_CONTROL_NAMES = {0x00: "NUL", 0x08: "BACKSPACE", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED",
                  0x0D: "CARRIAGE RETURN not ending the line", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE"}


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
    for number, raw in enumerate(text.removeprefix(_BYTE_ORDER_MARK).split("\n"), start=1):
        content = raw.removesuffix("\r")  # CRLF line ends are fine; a CR elsewhere is a problem
        line = content.strip()
        try:
            _reject_hidden_characters(content)
            if not line or line.startswith("#"):
                continue
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


def _reject_hidden_characters(line: str) -> None:
    """A character that renders as nothing (or moves text around) hides what the line runs: refuse it."""
    for column, character in enumerate(line, start=1):
        if character in _ALLOWED_CONTROLS or unicodedata.category(character) not in _FORBIDDEN_CATEGORIES:
            continue
        code = ord(character)
        name = _CONTROL_NAMES.get(code) or unicodedata.name(character, "control character")
        raise _LineError(f"column {column}: hidden character U+{code:04X} ({name}); remove it: it can make "
                         "the line look different from what runs (tab is the only one allowed in a line)")


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
        if not (token.isascii() and token.isdigit()):  # int() refuses some Unicode digits, e.g. "²"
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
