"""Polling schedule: channel interval with jitter; failures retry sooner, doubling up to the interval."""

import random

from smartcam.common.polling import PollSchedule


def test_success_waits_the_interval_within_the_jitter():
    schedule = PollSchedule(100.0, 0.1, 5.0, random.Random(1))
    delays = [schedule.succeeded() for _ in range(200)]
    assert all(90.0 <= d <= 110.0 for d in delays)
    assert max(delays) - min(delays) > 10  # actually spread, not a constant


def test_failures_back_off_doubling_and_never_beyond_the_interval_then_reset():
    schedule = PollSchedule(100.0, 0.0, 5.0)
    assert [schedule.failed() for _ in range(7)] == [5.0, 10.0, 20.0, 40.0, 80.0, 100.0, 100.0]
    assert schedule.succeeded() == 100.0
    assert schedule.failed() == 5.0
