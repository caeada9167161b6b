"""The real entry point in real processes: the service as systemd runs it, and `--check`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{REPO / 'common'}:{REPO / 'host' / 'cmds'}"}


def cmds(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartcam.cmds", *args], env=env or ENV, capture_output=True,
                          text=True, timeout=60, check=False)


def service_env(tmp_path: Path, source: Path, keys: dict) -> dict:
    return dict(ENV, SMARTCAM_CUSTOM_CMDS_SOURCE=str(source), SMARTCAM_PUBLIC_KEY=f"{keys['trusted']}.pub",
                SMARTCAM_CMDS_DIR=str(tmp_path / "state"), SMARTCAM_HEALTH_FILE=str(tmp_path / "health.json"),
                SMARTCAM_CMDS_POLL_INTERVAL_S="3600")


def run_until_status(env: dict, status_file: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "smartcam.cmds"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not status_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_an_entry_cut_off_by_a_crash_or_reboot_is_never_run_again(tmp_path, write_signed, keys):
    log = tmp_path / "ran.log"
    now = int(time.time())
    # The command kills the service itself mid-entry, as a reboot or power cut would.
    source = write_signed(f"{now - 60} @ sh: echo ran >> {log} @ sh: kill -9 $PPID @ sh: echo after >> {log}\n")
    env = service_env(tmp_path, source, keys)
    status_file = tmp_path / "state" / "status.json"
    crashed = run_until_status(env, status_file)
    assert crashed.wait(timeout=30) == -signal.SIGKILL
    assert not status_file.exists()

    restarted = run_until_status(env, status_file)
    try:
        assert restarted.poll() is None, restarted.stderr.read() if restarted.stderr else ""
        report = json.loads(status_file.read_text())
    finally:
        restarted.send_signal(signal.SIGTERM)
        stderr = restarted.communicate(timeout=30)[1]
    assert restarted.returncode == 0
    assert log.read_text() == "ran\n"
    assert [(r["line"], r["state"]) for r in report["recent"]] == [(1, "interrupted")]
    assert report["counters"]["entries_interrupted"] == 1
    assert "line 1 was interrupted while running (restart or reboot) and is not run again" in stderr


def test_bad_settings_stop_the_service_with_the_variable_named(tmp_path):
    env = dict(ENV, SMARTCAM_CUSTOM_CMDS_SOURCE="http://example.org/custom_cmds",
               SMARTCAM_HEALTH_FILE=str(tmp_path / "health.json"), SMARTCAM_CMDS_DIR=str(tmp_path / "state"))
    result = cmds(env=env)
    assert result.returncode == 2
    assert "SMARTCAM_CUSTOM_CMDS_SOURCE='http://example.org/custom_cmds': " in result.stderr
    assert "use https://" in result.stderr


def test_check_prints_each_problem_with_its_line_number_and_fails(tmp_path):
    file = tmp_path / "custom_cmds"
    file.write_text("# ok\n1767225600 @ true\n99x @ reboot\n0 25 * * * @ true\n1767225600 @\n")
    result = cmds("--check", str(file))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{file}:3: bad epoch '99x'" in lines[0]
    assert f"{file}:4: bad cron expression '0 25 * * *'" in lines[1]
    assert f"{file}:5: empty command #1" in lines[2]
    assert lines[-1].startswith("FAILED: 1 valid entries")


def test_check_verifies_the_signature_when_given_a_key(tmp_path, write_signed, keys):
    source = write_signed("1767225600 @ true\n")
    good = cmds("--check", str(source), "--key", f"{keys['trusted']}.pub")
    assert (good.returncode, good.stdout.splitlines()[-1]) == (0, "OK: 1 valid entries (1 one-shot, 0 recurring), "
                                                                  "0 problem line(s)")
    wrong_key = cmds("--check", str(source), "--key", f"{keys['other']}.pub")
    assert wrong_key.returncode == 1
    assert f"{source}.sig: custom_cmds signature is not valid for the key" in wrong_key.stdout


def test_the_repository_custom_cmds_is_valid_and_signed_by_the_project_key():
    result = cmds("--check", str(REPO / "custom_cmds"), "--key", str(REPO / "host" / "keys" / "custom_cmds.pub"))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OK: ")


def test_the_commented_examples_of_the_repository_custom_cmds_parse(tmp_path):
    examples = [line.removeprefix("# ") for line in (REPO / "custom_cmds").read_text().splitlines()
                if line.startswith("# ") and line[2:3].isdigit()]
    assert len(examples) >= 5
    file = tmp_path / "examples"
    file.write_text("\n".join(examples) + "\n")
    result = cmds("--check", str(file))
    assert result.returncode == 0, result.stdout
