"""A deleted, emptied, truncated or garbled ledger never runs an entry twice and never stops the service."""

import json
import logging
import re
import time
from pathlib import Path

import pytest

from smartcam.cmds.service import CmdsService
from smartcam.common.counters import Counters

LOG = logging.getLogger("smartcam.cmds.test")


def delete(file: Path) -> None:
    file.unlink()


def empty(file: Path) -> None:
    file.write_bytes(b"")


def truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])


def garble(file: Path) -> None:
    data = bytearray(file.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = b"\xff\x00}{\"x\n\x01"
    file.write_bytes(bytes(data))


def lower_a_due_time(file: Path) -> None:
    """Still valid JSON: one digit of a due time flipped lower, as a bad sector might."""
    text = file.read_text()
    changed = re.sub(r'("last_due": \d)\d', r"\g<1>0", text, count=1)
    assert changed != text
    file.write_text(changed)


ATTACKS = [delete, empty, truncate, garble, lower_a_due_time]


def restart(settings) -> CmdsService:
    return CmdsService(settings, LOG, Counters())


def status(settings) -> dict:
    return json.loads(settings.status_file.read_text())


def backup_of(settings) -> Path:
    return Path(f"{settings.ledger_file}.bak")


@pytest.fixture
def ran_once(tmp_path, write_signed, settings_for):
    """A device that ran one one-shot entry: (settings, log of runs, the entry's due time)."""
    log = tmp_path / "ran.log"
    due = int(time.time()) - 60
    source = write_signed(f"{due} @ sh: echo once >> {log}\n")
    settings = settings_for(source)
    restart(settings).poll()
    assert log.read_text() == "once\n"
    return settings, log, due


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_damaged_ledger_is_restored_from_its_backup_across_restarts(ran_once, attack):
    settings, log, _ = ran_once
    for _ in range(2):  # twice more: each restart finds the ledger attacked again
        attack(settings.ledger_file)
        service = restart(settings)
        service.poll()
        assert log.read_text() == "once\n"
        report = status(settings)
        assert report["ledger"]["loaded_from"] == "backup"
        assert report["poll"]["ok"] is True
    assert log.read_text() == "once\n"
    assert report["counters"]["ledger.restored_from_backup"] == 1
    assert [(r["line"], r["state"]) for r in report["recent"]] == [(1, "done")]
    if attack is not delete:
        assert report["ledger"]["damaged"] == [f"{settings.ledger_file}.damaged"]
        assert Path(f"{settings.ledger_file}.damaged").exists()
        assert report["counters"]["ledger.damaged"] == 1
    assert settings.ledger_file.read_bytes() == backup_of(settings).read_bytes()  # both copies good again
    restart(settings).poll()
    assert status(settings)["ledger"]["loaded_from"] == "ledger"


@pytest.mark.parametrize("attack", ATTACKS)
def test_with_both_copies_lost_past_one_shots_are_skipped_not_rerun_and_new_ones_run(ran_once, attack,
                                                                                     write_signed, caplog):
    settings, log, due = ran_once
    later = due + 3000
    write_signed(f"{due} @ sh: echo once >> {log}\n{later} @ sh: echo later >> {log}\n",
                 folder=Path(settings.custom_cmds_source).parent)
    for copy in (settings.ledger_file, backup_of(settings)):
        attack(copy)
    with caplog.at_level(logging.WARNING):
        service = restart(settings)
        service.poll(now=due + 10)
    assert log.read_text() == "once\n"  # may have run before the loss: not run again
    report = status(settings)
    assert report["ledger"]["loaded_from"] == "lost"
    assert report["ledger"]["lost_before"] is not None
    assert report["counters"]["ledger.lost"] == 1
    assert [(r["line"], r["state"]) for r in report["recent"]] == [(1, "skipped")]
    assert "due before the ledger was lost" in report["recent"][0]["result"]["reason"]
    assert "the ledger" in caplog.text
    assert "and its backup are lost" in caplog.text
    # Due after the loss: it cannot have run, so it runs; so does a restart later, once.
    restart(settings).poll(now=later + 5)
    restart(settings).poll(now=later + 10)
    assert log.read_text() == "once\nlater\n"


@pytest.mark.parametrize("attack", ATTACKS)
def test_copies_attacked_between_polls_are_rewritten_from_memory(ran_once, attack):
    settings, log, _ = ran_once
    service = restart(settings)
    service.poll()
    for copy in (settings.ledger_file, backup_of(settings)):
        attack(copy)
    service.poll()  # the running service notices and writes both copies again
    report = status(settings)
    assert report["counters"]["ledger.changed_on_disk"] == 2
    assert "while the service ran" in report["ledger"]["problems"][-1]
    restart(settings).poll()
    assert status(settings)["ledger"]["loaded_from"] == "ledger"
    assert log.read_text() == "once\n"


def test_an_unreadable_installed_marker_still_means_the_service_ran_here(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    now = int(time.time())
    settings = settings_for(write_signed(f"{now - 60} @ sh: echo first-start >> {log}\n"))
    settings.cmds_dir.mkdir(parents=True)
    settings.installed_marker_file.write_bytes(b"\x00garbage")  # present: this device has run entries before
    restart(settings).poll()
    assert not log.exists()
    assert status(settings)["ledger"]["loaded_from"] == "lost"


def test_a_first_start_writes_the_marker_with_the_first_ledger_and_catches_up(tmp_path, write_signed,
                                                                              settings_for):
    log = tmp_path / "ran.log"
    now = int(time.time())
    settings = settings_for(write_signed(f"{now - 60} @ sh: echo first-start >> {log}\n"))
    service = restart(settings)
    assert not settings.installed_marker_file.exists()
    service.poll()
    assert log.read_text() == "first-start\n"
    assert settings.installed_marker_file.exists()
    assert status(settings)["ledger"]["loaded_from"] == "new"
