import json
import logging
import time
from pathlib import Path

import pytest

from smartcam.cmds.service import CmdsService
from smartcam.common.counters import Counters

LOG = logging.getLogger("smartcam.cmds.test")


def make_service(settings) -> CmdsService:
    return CmdsService(settings, LOG, Counters())


def status(settings) -> dict:
    return json.loads(settings.status_file.read_text())


def test_due_entries_run_in_order_once_even_across_restarts(tmp_path, write_signed, settings_for, http_folder):
    url, folder = http_folder
    log = tmp_path / "ran.log"
    now = int(time.time())
    write_signed(f"{now - 30} @ sh: echo second >> {log}\n"
                 f"{now - 60} @ sh: echo first >> {log} @ sh: echo first-b >> {log}\n"
                 f"{now + 3600} @ sh: echo future >> {log}\n", folder=folder)
    settings = settings_for(f"{url}/custom_cmds")
    make_service(settings).poll()
    assert log.read_text().split() == ["first", "first-b", "second"]
    make_service(settings).poll()  # a restart: new process state, same ledger on disk
    make_service(settings).poll()
    assert log.read_text().split() == ["first", "first-b", "second"]
    report = status(settings)
    assert report["poll"]["ok"] is True
    assert [(r["line"], r["state"]) for r in report["recent"]] == [(1, "done"), (2, "done")]
    first_run = next(r for r in report["recent"] if r["line"] == 2)
    assert [c["exit_code"] for c in first_run["result"]["commands"]] == [0, 0]


def test_malformed_lines_are_reported_by_number_while_valid_lines_run(tmp_path, write_signed, settings_for,
                                                                      caplog):
    log = tmp_path / "ran.log"
    now = int(time.time())
    source = write_signed(f"# header\nnot-an-epoch @ reboot\n{now - 5} @ sh: echo ok >> {log}\n"
                          "1767225600 reboot\n*/5 * * * @ reboot\n")
    settings = settings_for(source)
    with caplog.at_level(logging.ERROR):
        make_service(settings).poll()
    assert log.read_text() == "ok\n"
    assert [p["line"] for p in status(settings)["file"]["problems"]] == [2, 4, 5]
    assert "custom_cmds line 2 skipped: bad epoch 'not-an-epoch'" in caplog.text
    assert "custom_cmds line 4 skipped: missing ' @ '" in caplog.text


def test_an_epoch_older_than_the_catch_up_window_is_skipped_and_logged(tmp_path, write_signed, settings_for,
                                                                       caplog):
    log = tmp_path / "ran.log"
    now = int(time.time())
    source = write_signed(f"{now - 7200} @ sh: echo stale >> {log}\n{now - 1800} @ sh: echo fresh >> {log}\n")
    settings = settings_for(source, catch_up_window_s=3600)
    with caplog.at_level(logging.WARNING):
        make_service(settings).poll()
        make_service(settings).poll()
    assert log.read_text() == "fresh\n"
    assert caplog.text.count("line 1 skipped, not run: due 2.0 h ago, older than the catch-up window") == 1
    states = {r["line"]: r["state"] for r in status(settings)["recent"]}
    assert states == {1: "skipped", 2: "done"}


def test_a_network_failure_leaves_the_ledger_as_it_was(tmp_path, write_signed, settings_for, http_folder, caplog):
    url, folder = http_folder
    log = tmp_path / "ran.log"
    now = int(time.time())
    source = write_signed(f"{now - 60} @ sh: echo one >> {log}\n", folder=folder)
    settings = settings_for(f"{url}/custom_cmds")
    make_service(settings).poll()
    ledger_before = settings.ledger_file.read_bytes()
    # The next version of the file is published, but the device cannot reach the server.
    write_signed(f"{now - 60} @ sh: echo one >> {log}\n{now - 30} @ sh: echo two >> {log}\n", folder=folder)
    unreachable = settings_for("http://127.0.0.1:9/custom_cmds", fetch_timeout_s=2)
    service = make_service(unreachable)
    with caplog.at_level(logging.ERROR):
        service.poll()
        service.poll()
    assert settings.ledger_file.read_bytes() == ledger_before
    assert log.read_text() == "one\n"
    report = status(unreachable)
    assert report["poll"]["ok"] is False
    assert "GET http://127.0.0.1:9/custom_cmds failed" in report["poll"]["error"]
    assert report["counters"]["poll.fetch_failed"] == 2
    assert caplog.text.count("fetch failed: GET http://127.0.0.1:9/custom_cmds failed") == 1  # counted, logged once
    assert source.exists()


@pytest.mark.parametrize("attack", ["tampered", "other_key", "unsigned"])
def test_a_file_not_signed_by_the_trusted_key_runs_nothing(tmp_path, write_signed, settings_for, attack):
    log = tmp_path / "ran.log"
    now = int(time.time())
    text = f"{now - 60} @ sh: echo ran >> {log}\n"
    source = write_signed(text, key="other" if attack == "other_key" else "trusted")
    if attack == "tampered":
        source.write_text(text + f"{now - 30} @ sh: echo injected >> {log}\n")
    if attack == "unsigned":
        Path(f"{source}.sig").unlink()
    settings = settings_for(source)
    make_service(settings).poll()
    assert not log.exists()
    assert not settings.ledger_file.exists()
    report = status(settings)
    assert report["poll"]["ok"] is False
    assert report["counters"]["poll.file_rejected"] == 1
    assert "nothing runs" in report["poll"]["error"]


def test_a_hanging_command_is_killed_at_its_timeout_and_stops_its_entry(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    now = int(time.time())
    source = write_signed(f"{now - 60} @ sleep 600 @ sh: echo after >> {log}\n{now - 30} @ sh: echo next >> {log}\n")
    settings = settings_for(source, command_timeout_s=0.5)
    started = time.monotonic()
    make_service(settings).poll()
    assert time.monotonic() - started < 15
    assert log.read_text() == "next\n"
    hung = next(r for r in status(settings)["recent"] if r["line"] == 1)
    assert hung["state"] == "failed"
    assert hung["result"]["commands"][0]["timed_out"] is True
    assert hung["result"]["not_run"] == [f"sh: echo after >> {log}"]


def test_a_recurring_entry_runs_at_its_next_due_time_only(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    source = write_signed(f"*/10 * * * * @ sh: echo tick >> {log}\n")
    settings = settings_for(source)
    base = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a multiple of ten minutes
    service = make_service(settings)
    service.poll(now=base + 5)  # first sight: baseline, the 08:00 time is not replayed
    service.poll(now=base + 300)
    assert not log.exists()
    service.poll(now=base + 600)
    service.poll(now=base + 700)
    assert log.read_text() == "tick\n"


def test_an_unwritable_ledger_runs_nothing_and_is_reported(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    source = write_signed(f"{int(time.time()) - 60} @ sh: echo ran >> {log}\n")
    state = tmp_path / "state"
    state.mkdir()
    settings = settings_for(source, cmds_dir=state)
    service = make_service(settings)
    settings.ledger_file.mkdir()  # a directory where the ledger file must go: every write fails
    service.poll()
    assert not log.exists()
    report = status(settings)
    assert report["poll"]["ok"] is False
    assert f"cannot write the ledger {settings.ledger_file}" in report["poll"]["error"]
