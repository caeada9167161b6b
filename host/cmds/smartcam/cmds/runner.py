"""Running one command: no shell unless asked, a hard timeout, and the tail of its output kept.

Output goes to a temporary file rather than a pipe, so a command that leaves a daemon holding the
pipe open cannot hang the service. The command gets its own process group so a timeout kills
everything it started, not just the first process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import IO, Any

from smartcam.cmds.entries import Command

_KILL_GRACE_S = 5.0
_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int | None  # None: it could not start, or was killed at its timeout
    timed_out: bool
    duration_s: float
    output_tail: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_command(command: Command, timeout_s: float, tail_chars: int) -> CommandResult:
    started = time.monotonic()
    environment = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                command.args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env=environment, cwd="/", start_new_session=True,
            )
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in an argument
            return CommandResult(command.text, None, False, time.monotonic() - started, "",
                                 f"cannot start {command.args[0]!r}: {getattr(error, 'strerror', None) or error}")
        timed_out = False
        try:
            exit_code: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            exit_code = None
        tail = _tail(output, tail_chars)
    error = f"killed after its timeout of {timeout_s:g}s" if timed_out else None
    return CommandResult(command.text, exit_code, timed_out, round(time.monotonic() - started, 3), tail, error)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after a short grace."""
    for sig, wait_s in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            if sig == signal.SIGTERM:
                # The leader is gone; make sure no child it left behind keeps running.
                os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _tail(output: IO[bytes], chars: int) -> str:
    """The last `chars` characters, reading only the end of a possibly huge output."""
    if not chars:
        return ""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 4 * chars))
    return output.read().decode("utf-8", errors="replace")[-chars:]
