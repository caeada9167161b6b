"""Retry-After is believed (clamped to 1 s - 1 h) instead of the exponential delay; bad values are not."""

import itertools
import logging
import random

from smartcam.uploader.backoff import RETRY_AFTER_MAX_S, RETRY_AFTER_MIN_S, Backoff

from .conftest import Reply, delivered


def test_retry_after_replaces_the_exponential_delay_however_many_failures_came_before():
    backoff = Backoff(30.0, 300.0, random.Random(3))
    for _ in range(20):
        backoff.next_delay()
    assert backoff.next_delay(retry_after_s=1) == 1  # not up to 300 s of backoff
    assert backoff.next_delay(retry_after_s=0) == RETRY_AFTER_MIN_S  # never a hot loop
    assert backoff.next_delay(retry_after_s=-7) == RETRY_AFTER_MIN_S
    assert backoff.next_delay(retry_after_s=1e12) == RETRY_AFTER_MAX_S  # never parks the queue for days
    assert backoff.next_delay(retry_after_s=float("inf")) == RETRY_AFTER_MAX_S
    assert backoff.next_delay(retry_after_s=float("nan")) == RETRY_AFTER_MIN_S
    delays = [backoff.next_delay() for _ in range(50)]  # without Retry-After: full jitter under the cap again
    assert all(0 <= delay <= 300 for delay in delays)
    assert max(delays) > 30


def _gaps(target):
    times = [request.at for request in target.event_requests()]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_retry_after_one_second_is_waited_instead_of_a_long_backoff(target, start_delivery, make_event, wait_until):
    target.script.extend([Reply(503, {"Retry-After": "1"})] * 3)
    # backoff alone would wait up to 30, 60, 120 s: the test would time out
    queue, _ = start_delivery(target.url, backoff_base_s=30.0, backoff_cap_s=300.0)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1), timeout_s=8)
    assert target.ids() == ["evt-1"] * 4
    assert all(0.95 <= gap < 1.8 for gap in _gaps(target)), _gaps(target)


def test_an_http_date_in_the_past_waits_the_one_second_minimum(target, start_delivery, make_event, wait_until):
    target.script.append(Reply(429, {"Retry-After": "Fri, 27 Nov 2026 05:00:00 GMT"}))
    queue, _ = start_delivery(target.url, backoff_base_s=30.0, backoff_cap_s=300.0)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1), timeout_s=5)
    [gap] = _gaps(target)
    assert 0.95 <= gap < 1.8


def test_a_negative_retry_after_is_ignored_and_backoff_applies(target, start_delivery, make_event, wait_until,
                                                               counters):
    target.script.append(Reply(503, {"Retry-After": "-5"}))
    queue, _ = start_delivery(target.url)  # backoff of at most 0.2 s
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1), timeout_s=5)
    [gap] = _gaps(target)
    assert gap < 0.9  # neither the 1 s minimum of a believed Retry-After nor a hot loop's zero guaranteed
    assert counters.get("delivery.retry_after.unreadable") == 1


def test_a_huge_retry_after_waits_one_hour_not_forever(target, start_delivery, make_event, wait_until, caplog):
    target.script.append(Reply(503, {"Retry-After": "9" * 400}))
    with caplog.at_level(logging.DEBUG):
        queue, _ = start_delivery(target.url)
        queue.put(make_event(1))
        assert wait_until(lambda: "retrying in" in caplog.text, timeout_s=5)
        assert not wait_until(lambda: len(target.event_requests()) > 1, timeout_s=1.5)  # not the 0.2 s backoff
    assert f"retrying in {RETRY_AFTER_MAX_S:.1f}s" in caplog.text
    assert queue.figures().queued == 1  # still waiting, not dropped
