"""A command's timeout kills its whole process tree, also children that left its process group."""

import os
import signal
import uuid
from pathlib import Path

import pytest

from smartcam.cmds.entries import parse
from smartcam.cmds.runner import run_command, scope_argv, uses_systemd_scope


def command(text: str):
    return parse(f"1 @ {text}").entries[0].commands[0]


def alive_with(argument: str) -> list[int]:
    """PIDs of live (not zombie) processes whose command line has `argument`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argument.encode() in argv and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def sleep_token():
    """A unique sleep length to find this test's sleeps; any left over are killed afterwards."""
    token = f"300.{uuid.uuid4().int % 10**9}"
    yield token
    for pid in alive_with(token):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(uses_systemd_scope(), reason="tests the /proc fallback; this machine would use a scope")
def test_a_child_that_called_setsid_does_not_survive_the_timeout(tmp_path, sleep_token):
    pid_file = tmp_path / "escaped.pid"
    result = run_command(command(f"sh: setsid sleep {sleep_token} & echo $! > {pid_file}; sleep {sleep_token}"),
                         timeout_s=1.5, tail_chars=100)
    assert result.timed_out
    assert result.exit_code is None
    escaped = int(pid_file.read_text())
    assert escaped > 0
    assert alive_with(sleep_token) == []


@pytest.mark.skipif(uses_systemd_scope(), reason="tests the /proc fallback; this machine would use a scope")
def test_a_daemon_whose_parent_already_exited_does_not_survive_the_timeout(sleep_token):
    # The double fork: the subshell exits at once, so the daemon is re-parented before the timeout.
    result = run_command(command(f"sh: (setsid sleep {sleep_token} &); sleep {sleep_token}"),
                         timeout_s=1.5, tail_chars=100)
    assert result.timed_out
    assert alive_with(sleep_token) == []


def test_a_command_that_ends_in_time_leaves_its_daemon_alone(tmp_path, sleep_token):
    pid_file = tmp_path / "daemon.pid"
    result = run_command(command(f"sh: setsid sleep {sleep_token} > /dev/null 2>&1 & echo $! > {pid_file}"),
                         timeout_s=10, tail_chars=100)
    assert (result.exit_code, result.timed_out) == (0, False)
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat").read_text()
    assert stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_where_systemd_runs_each_command_gets_its_own_scope_unit():
    argv = scope_argv(["/bin/sh", "-c", "apt-get update"], "smartcam-cmd-0123456789ab")
    assert argv == ["systemd-run", "--scope", "--quiet", "--collect", "--unit=smartcam-cmd-0123456789ab",
                    "--", "/bin/sh", "-c", "apt-get update"]
    if not Path("/run/systemd/system").is_dir():
        assert uses_systemd_scope() is False
