"""EarlyAsk: the next frame is asked for during the model's run, timed by the runs before, with a real timer thread."""

import threading
import time

import pytest

from smartcam.infer.early_ask import MAX_LEAD_S, MIN_LEAD_S, START_LEAD_S, WAIT_NOTICED_S, EarlyAsk

RUN_S = 0.06


class Asks:
    """Records when `ask` was called and from which thread."""

    def __init__(self):
        self.at: list[float] = []
        self.threads: list[str] = []

    def __call__(self):
        self.at.append(time.monotonic())
        self.threads.append(threading.current_thread().name)


def run(early: EarlyAsk, seconds: float = RUN_S) -> tuple[float, float]:
    """One interpreter run of `seconds` (a sleep: the GIL is free, as in invoke()); returns its start and end."""
    early.before_invoke()
    started = time.monotonic()
    time.sleep(seconds)
    ended = time.monotonic()
    early.after_invoke()
    return started, ended


@pytest.fixture
def asks():
    return Asks()


@pytest.fixture
def early(asks):
    early = EarlyAsk(asks)
    yield early
    early.close()


def test_the_first_run_asks_when_it_ends_and_later_runs_ask_before_they_end(early, asks):
    _, first_end = run(early)
    assert len(asks.at) == 1
    assert asks.at[0] >= first_end  # no estimate yet: asked once the run was over
    started, ended = run(early)
    assert len(asks.at) == 2
    assert started + RUN_S / 2 < asks.at[1] < ended  # during the run's last part: fresh, and on its way in time
    assert asks.threads[1] == "early-ask"


def test_a_run_shorter_than_expected_asks_once_when_it_ends_and_never_later(early, asks):
    run(early)
    run(early)
    count = len(asks.at)
    _, ended = run(early, seconds=0.005)  # far shorter than the expected 60 ms: the timer has not fired
    assert len(asks.at) == count + 1
    assert asks.at[-1] >= ended
    time.sleep(RUN_S * 2)  # the timer of that run must not fire afterwards, when the socket is the caller's again
    assert len(asks.at) == count + 1


def test_nothing_is_asked_outside_a_run(early, asks):
    run(early)
    run(early)
    count = len(asks.at)
    time.sleep(RUN_S * 2)
    assert len(asks.at) == count


def test_the_lead_grows_by_a_wait_and_shrinks_slowly_without_one(early):
    assert early.lead_s == START_LEAD_S
    early.waited(0.001)
    assert early.lead_s == pytest.approx(START_LEAD_S + 0.001)
    early.waited(1.0)  # one long hiccup at most doubles it
    assert early.lead_s == pytest.approx(2 * (START_LEAD_S + 0.001))
    grown = early.lead_s
    early.waited(WAIT_NOTICED_S / 2)  # the cost of looking, not a wait
    assert early.lead_s < grown
    for _ in range(1000):
        early.waited(0.0)
    assert early.lead_s == MIN_LEAD_S
    for _ in range(20):
        early.waited(10.0)
    assert early.lead_s == MAX_LEAD_S


def test_a_failing_run_is_still_ended_so_the_timer_stays_quiet(early, asks):
    """Detector.detect calls after_invoke in a finally: a run that raises disarms the timer too."""
    run(early)
    run(early)
    count = len(asks.at)
    early.before_invoke()
    early.after_invoke()  # what detect's finally does when invoke() raises at once
    time.sleep(RUN_S * 2)
    assert len(asks.at) == count + 1
