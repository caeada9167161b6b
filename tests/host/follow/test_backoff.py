"""The follower's poll schedule (smartcam.common.polling) over a long outage, with the follower's own settings."""

import random

from smartcam.common.polling import PollSchedule
from smartcam.follow.settings import FollowSettings


def test_the_retry_delay_stays_at_the_interval_however_long_the_server_is_away(tmp_path):
    settings = FollowSettings(channel="master", checkout_poll_jitter=0.0, health_file=tmp_path / "health.json")
    schedule = PollSchedule(settings.poll_interval, settings.checkout_poll_jitter, settings.checkout_retry_initial_s,
                            rng=random.Random(1))
    delays = [schedule.failed() for _ in range(3000)]  # about ten days offline on master
    assert delays[:4] == [30.0, 60.0, 120.0, 240.0]
    assert set(delays[4:]) == {300.0}
    assert schedule.succeeded() == 300.0
    assert schedule.failed() == 30.0
