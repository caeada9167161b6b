"""Running one command: no shell unless asked, a hard timeout, and the tail of its output kept.

Output goes to a temporary file rather than a pipe, so a command that leaves a daemon holding the
pipe open cannot hang the service. At its timeout the command's whole process tree is killed, also
children that left its process group (`setsid`): where systemd runs, each command runs in its own
scope unit (a cgroup nothing can leave) that is killed and stopped; everywhere, the tree found in
/proc is stopped, terminated and then killed (see `tree`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from smartcam.cmds import tree
from smartcam.cmds.entries import Command

_KILL_GRACE_S = 5.0
_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SYSTEMD_RUNNING = Path("/run/systemd/system")  # exists only when systemd is PID 1 (sd_booted)
_MARKER = "SMARTCAM_CMD_ID"
_SYSTEMCTL_TIMEOUT_S = 30.0


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


def uses_systemd_scope() -> bool:
    """A scope needs systemd as PID 1, its tools, and root (the system manager)."""
    return (_SYSTEMD_RUNNING.is_dir() and os.geteuid() == 0
            and shutil.which("systemd-run") is not None and shutil.which("systemctl") is not None)


def scope_argv(args: list[str], unit: str) -> list[str]:
    return ["systemd-run", "--scope", "--quiet", "--collect", f"--unit={unit}", "--", *args]


def run_command(command: Command, timeout_s: float, tail_chars: int) -> CommandResult:
    started = time.monotonic()
    command_id = uuid.uuid4().hex[:12]
    environment = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root",
                   _MARKER: command_id}
    unit = f"smartcam-cmd-{command_id}" if uses_systemd_scope() else None
    args = command.args
    if unit is not None:
        if (missing := _missing_program(args[0])) is not None:
            return CommandResult(command.text, None, False, time.monotonic() - started, "", missing)
        args = scope_argv(args, unit)
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env=environment, cwd="/", start_new_session=True,
            )
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in an argument
            return CommandResult(command.text, None, False, time.monotonic() - started, "",
                                 f"cannot start {args[0]!r}: {getattr(error, 'strerror', None) or error}")
        timed_out = False
        try:
            exit_code: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(process, f"{_MARKER}={command_id}".encode(), unit)
            exit_code = None
        tail = _tail(output, tail_chars)
    problem = f"killed after its timeout of {timeout_s:g}s" if timed_out else None
    return CommandResult(command.text, exit_code, timed_out, round(time.monotonic() - started, 3), tail, problem)


def _missing_program(program: str) -> str | None:
    """systemd-run would only report a missing program in its output: say it as a direct start would."""
    found = (os.access(program, os.X_OK) and Path(program).is_file()) if "/" in program \
        else shutil.which(program, path=_SAFE_PATH) is not None
    return None if found else f"cannot start {program!r}: No such file or directory"


def _kill_tree(process: subprocess.Popen[bytes], marker: bytes, unit: str | None) -> None:
    """Stop the whole tree, SIGTERM it, give the command a short grace, then SIGKILL all that is left."""
    victims = tree.freeze(process.pid, marker)
    tree.terminate(victims)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE_S)
    # Whatever it forked during the grace is collected from the survivors before they die.
    tree.kill(tree.freeze(process.pid, marker, victims))
    if unit is not None:
        # The cgroup holds even what left the tree and scrubbed its environment.
        for action in (["kill", "--signal=SIGKILL"], ["stop"]):
            subprocess.run(["systemctl", *action, f"{unit}.scope"], capture_output=True, timeout=_SYSTEMCTL_TIMEOUT_S,
                           check=False)
    process.wait()


def _tail(output: IO[bytes], chars: int) -> str:
    """The last `chars` characters, reading only the end of a possibly huge output."""
    if not chars:
        return ""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 4 * chars))
    return output.read().decode("utf-8", errors="replace")[-chars:]
