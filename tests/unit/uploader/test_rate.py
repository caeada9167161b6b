"""The upload rate limit, measured where it matters: the bytes a real HTTP target receives per second."""

import threading

import pytest
import requests

from smartcam.common.settings import SettingsError
from smartcam.uploader.pacing import Pace, wire_bytes

from .conftest import backlog, delivered, wire_bytes_seen


def test_a_backlog_reaches_the_target_at_no_more_than_the_configured_rate(target, start_delivery, make_event,
                                                                          wait_until):
    rate = 8000
    queue, _ = start_delivery(target.url, before=backlog(make_event, 8), upload_rate_bps=rate)
    assert wait_until(delivered(queue, 8), timeout_s=15)
    received = target.event_requests()
    sizes = [wire_bytes_seen(request) for request in received]
    assert 1500 < sizes[0] < 2500  # an event of about 2 kB: the backlog is ~16 kB, 2 s at the rate
    # The target stamps a request when it has read it all, so one request's own transfer and scheduling
    # (seconds on a busy machine) may shorten one gap: every stretch may hold at most one request more.
    for first in range(len(received)):
        for last in range(first + 1, len(received)):  # every stretch of requests, not just the whole run
            elapsed = received[last].at - received[first].at
            assert sum(sizes[first:last]) <= rate * elapsed + max(sizes), (first, last, elapsed)
    whole = received[-1].at - received[0].at
    assert sum(sizes[:-1]) / whole <= rate * 1.15  # the whole run: the rate, bar the first request's stamp
    assert whole < sum(sizes[:-1]) / rate * 1.5  # paced, not slower than it has to be


def test_without_a_rate_the_same_backlog_goes_out_at_once(target, start_delivery, make_event, wait_until):
    queue, _ = start_delivery(target.url, before=backlog(make_event, 8))
    assert wait_until(delivered(queue, 8), timeout_s=15)
    received = target.event_requests()
    sizes = [wire_bytes_seen(request) for request in received]
    assert sum(sizes[:-1]) / (received[-1].at - received[0].at) > 8000 * 3  # the rate test above can fail


def test_heartbeats_count_towards_the_rate(target, start_delivery, make_event, wait_until):
    rate = 4000
    queue, _ = start_delivery(target.url, before=backlog(make_event, 3), heartbeat=True, upload_rate_bps=rate,
                              heartbeat_url="/heartbeat", heartbeat_interval_s=3600)
    assert wait_until(lambda: queue.figures().delivered == 3 and target.heartbeats(), timeout_s=15)
    received = sorted(target.requests, key=lambda request: request.at)
    sizes = [wire_bytes_seen(request) for request in received]
    assert sum(sizes[:-1]) <= rate * (received[-1].at - received[0].at) + max(sizes)


def test_the_counted_bytes_are_the_bytes_the_target_receives(target):
    session = requests.Session()
    session.headers.update({"User-Agent": "t/1", "Accept-Encoding": "identity"})
    prepared = session.prepare_request(requests.Request("POST", target.url, data=b"x" * 300,
                                                        headers={"Idempotency-Key": "evt-9"}))
    counted = wire_bytes(prepared)
    session.send(prepared).close()
    session.close()
    [seen] = target.requests
    assert counted == wire_bytes_seen(seen)


def test_a_stop_ends_the_wait_for_a_turn():
    pace = Pace(100)
    stop = threading.Event()
    assert pace.wait_turn(1000, stop)  # the first goes at once and books 10 s
    stop.set()
    assert not pace.wait_turn(10, stop)  # returns at once instead of waiting 10 s
    assert Pace(0).wait_turn(10**9, threading.Event())  # unlimited never waits


@pytest.mark.parametrize("value", ["-1", "fast", "1.5", "1e9x"])
def test_a_malformed_rate_names_the_setting(make_settings, monkeypatch, value):
    monkeypatch.setenv("SMARTCAM_UPLOAD_RATE_BPS", value)
    with pytest.raises(SettingsError, match="SMARTCAM_UPLOAD_RATE_BPS"):
        make_settings()
