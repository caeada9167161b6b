import os
import time
from pathlib import Path

from smartcam.cmds.entries import parse
from smartcam.cmds.runner import run_command


def command(text: str):
    return parse(f"1 @ {text}").entries[0].commands[0]


def test_exit_code_and_output_tail_are_kept():
    result = run_command(command("sh: seq 1 1000; echo done >&2; exit 3"), timeout_s=10, tail_chars=12)
    assert (result.exit_code, result.timed_out, result.ok) == (3, False, False)
    assert result.output_tail == "\n999\n1000\ndone\n"[-12:]


def test_without_sh_prefix_no_shell_interprets_the_words(tmp_path: Path):
    marker = tmp_path / "marker"
    result = run_command(command(f"echo hello ; touch {marker}"), timeout_s=10, tail_chars=100)
    assert result.exit_code == 0
    assert result.output_tail == f"hello ; touch {marker}\n"
    assert not marker.exists()


def test_a_hanging_command_and_its_children_are_killed_at_the_timeout(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_command(command(f"sh: sleep 300 & echo $! > {pid_file}; wait"), timeout_s=0.5, tail_chars=100)
    assert result.timed_out
    assert result.exit_code is None
    assert "timeout of 0.5s" in (result.error or "")
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_a_command_that_does_not_exist_is_reported_not_raised():
    result = run_command(command("no-such-command-smartcam --x"), timeout_s=10, tail_chars=100)
    assert result.exit_code is None
    assert not result.ok
    assert "cannot start 'no-such-command-smartcam'" in (result.error or "")


def test_commands_get_a_clean_environment():
    os.environ["SMARTCAM_SECRET_FOR_TEST"] = "leak"
    try:
        result = run_command(command("env"), timeout_s=10, tail_chars=10_000)
    finally:
        del os.environ["SMARTCAM_SECRET_FOR_TEST"]
    assert "SMARTCAM_SECRET_FOR_TEST" not in result.output_tail
    assert "PATH=/usr/local/sbin" in result.output_tail
