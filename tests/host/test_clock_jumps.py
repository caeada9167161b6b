"""A clock that jumps a year forward and back (no real-time clock): nothing stalls, nothing is lost or doubled."""

import json
import logging

from smartcam.cmds.service import CmdsService
from smartcam.common.counters import Counters

LOG = logging.getLogger("smartcam.cmds.test")
BASE = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a multiple of ten minutes
YEAR = 365 * 86400.0  # also a multiple of ten minutes


def service(settings) -> CmdsService:
    return CmdsService(settings, LOG, Counters())


def runs(log) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_a_recurring_entry_counts_from_now_after_the_clock_went_back(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    settings = settings_for(write_signed(f"*/10 * * * * @ sh: echo tick >> {log}\n"))
    cmds = service(settings)
    cmds.poll(now=BASE + 5)  # baseline
    cmds.poll(now=BASE + 600)
    cmds.poll(now=BASE + YEAR + 5)  # a bad time source: a year ahead; as if the device had been off
    assert runs(log) == ["tick", "tick"]
    cmds.poll(now=BASE + 700)  # corrected back: counts from now, does not wait a year
    cmds.poll(now=BASE + 1200)
    cmds.poll(now=BASE + 1300)
    assert runs(log) == ["tick"] * 3
    report = json.loads(settings.status_file.read_text())
    assert report["counters"]["poll.clock_went_back"] == 1
    # The year passes for real: the due time already run in the wrong year is not run again.
    service(settings).poll(now=BASE + YEAR + 10)
    assert runs(log) == ["tick"] * 3
    service(settings).poll(now=BASE + YEAR + 600)
    assert runs(log) == ["tick"] * 4


def test_a_reboot_into_1970_and_back_does_not_repeat_the_last_run(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    settings = settings_for(write_signed(f"*/10 * * * * @ sh: echo upgrade-and-reboot >> {log}\n"))
    cmds = service(settings)
    cmds.poll(now=BASE + 5)
    cmds.poll(now=BASE + 605)
    assert len(runs(log)) == 1
    booted = service(settings)  # no real-time clock: the device boots at the epoch
    booted.poll(now=60.0)
    booted.poll(now=BASE + 700)  # time sync: BASE + 600 was already run before the reboot
    assert len(runs(log)) == 1
    booted.poll(now=BASE + 1205)
    assert len(runs(log)) == 2


def test_one_shots_skipped_by_a_clock_a_year_ahead_run_when_their_time_comes(tmp_path, write_signed,
                                                                              settings_for):
    log = tmp_path / "ran.log"
    due = int(BASE + 3600)
    settings = settings_for(write_signed(f"{due} @ sh: echo one-shot >> {log}\n"
                                         f"{due - 3000} @ sh: echo ran-in-time >> {log}\n"),
                            catch_up_window_s=3600)
    cmds = service(settings)
    cmds.poll(now=due - 2990)
    cmds.poll(now=BASE + YEAR)  # the one-shot looks a year old: skipped as stale
    report = json.loads(settings.status_file.read_text())
    assert {r["line"]: r["state"] for r in report["recent"]} == {1: "skipped", 2: "done"}
    cmds.poll(now=due - 100)  # the clock is right again
    assert runs(log) == ["ran-in-time"]
    service(settings).poll(now=due + 5)
    service(settings).poll(now=due + 10)
    assert runs(log) == ["ran-in-time", "one-shot"]
    report = json.loads(settings.status_file.read_text())
    assert {r["line"]: r["state"] for r in report["recent"]} == {1: "done", 2: "done"}


def test_a_one_shot_that_ran_stays_run_whatever_the_clock_does(tmp_path, write_signed, settings_for):
    log = tmp_path / "ran.log"
    due = int(BASE + 60)
    settings = settings_for(write_signed(f"{due} @ sh: echo once >> {log}\n"))
    service(settings).poll(now=due + 5)
    for now in (60.0, due - 30, BASE + YEAR, due + 5):
        service(settings).poll(now=now)
    assert runs(log) == ["once"]
