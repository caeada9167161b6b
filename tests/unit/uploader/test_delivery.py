"""Delivery against a real HTTP server on loopback: success, retries, Retry-After, dead letters, outages."""

import json
import logging
import random
import sqlite3
from datetime import UTC, datetime

import pytest

from smartcam.uploader import bodies
from smartcam.uploader.backoff import Backoff, parse_retry_after

from .conftest import Reply, ScriptedTarget, damage_stored_event, delivered


def test_each_event_is_delivered_once_with_its_event_id_as_idempotency_key(target, start_delivery, make_event,
                                                                           wait_until):
    queue, _ = start_delivery(target.url)
    for n in range(3):
        queue.put(make_event(n))
    assert wait_until(delivered(queue, 3))
    assert target.ids() == ["evt-0", "evt-1", "evt-2"]
    for request, document in zip(target.requests, target.json_bodies(), strict=True):
        assert request.headers["Content-Type"] == "application/json"
        assert document["event_id"] == request.event_id
        assert request.path == "/events"
    figures = queue.figures()
    assert (figures.queued, figures.dead_letter, figures.balanced) == (0, 0, True)
    assert not list(bodies.bodies_dir(queue.directory).iterdir())  # delivered bodies leave the disk


def test_events_go_out_in_capture_order(target, start_delivery, make_event, wait_until):
    def store_all(queue):  # before delivery starts: all three wait at once
        for n, seconds in [(1, 30), (2, 10), (3, 20)]:
            queue.put(make_event(n, seconds=seconds))

    queue, _ = start_delivery(target.url, before=store_all)
    assert wait_until(delivered(queue, 3))
    assert target.ids() == ["evt-2", "evt-3", "evt-1"]


def test_503_is_retried_with_backoff_until_200(target, start_delivery, make_event, wait_until, counters):
    target.script.extend([Reply(503), Reply(503)])
    queue, deliverer = start_delivery(target.url)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-1"] * 3
    assert target.delivered_ids() == ["evt-1"]
    assert counters.get("delivery.outage") == 2
    assert deliverer.last_error is None


def test_429_waits_at_least_retry_after(target, start_delivery, make_event, wait_until):
    target.script.append(Reply(429, {"Retry-After": "1"}))
    queue, _ = start_delivery(target.url, backoff_cap_s=0.1)  # backoff alone would retry within 0.1 s
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    first, second = target.requests
    assert second.at - first.at >= 1.0


def test_400_dead_letters_that_event_while_the_rest_are_delivered(target, start_delivery, make_event, wait_until,
                                                                  caplog):
    target.rule = lambda event_id: Reply(400, body=b'{"error": "camera_id unknown"}') if event_id == "evt-1" else None
    queue, _ = start_delivery(target.url)
    with caplog.at_level(logging.WARNING):
        for n in range(4):
            queue.put(make_event(n))
        assert wait_until(delivered(queue, 3))
    assert target.delivered_ids() == ["evt-0", "evt-2", "evt-3"]
    assert target.ids().count("evt-1") == 1  # not retried
    figures = queue.figures()
    assert (figures.dead_letter, figures.queued, figures.balanced) == (1, 0, True)
    [letter] = queue.snapshot().dead_letters
    assert (letter.event_id, letter.http_status) == ("evt-1", 400)
    assert '{"error": "camera_id unknown"}' in letter.reason
    assert "evt-1 moved to the dead letters" in caplog.text
    assert "400" in caplog.text


def test_an_unreachable_target_keeps_everything_until_it_comes_up(start_delivery, make_event, wait_until, free_port,
                                                                 counters, caplog):
    url = f"http://127.0.0.1:{free_port}/events"
    with caplog.at_level(logging.INFO):
        queue, deliverer = start_delivery(url)
        for n in range(3):
            queue.put(make_event(n))
        assert wait_until(lambda: counters.get("delivery.outage") >= 3)
        assert queue.figures().queued == 3
        assert "cannot reach" in deliverer.last_error
        server = ScriptedTarget(port=free_port)
        try:
            assert wait_until(delivered(queue, 3))
        finally:
            server.close()
    assert server.delivered_ids() == ["evt-0", "evt-1", "evt-2"]
    assert caplog.text.count("uploads are failing") == 1  # once per outage, not per retry
    assert caplog.text.count("uploads work again") == 1


def test_a_slow_answer_times_out_and_is_retried(target, start_delivery, make_event, wait_until, counters, caplog):
    target.script.append(Reply(200, delay_s=1.0))
    queue, _ = start_delivery(target.url, read_timeout_s=0.3)
    with caplog.at_level(logging.WARNING):
        queue.put(make_event(1))
        assert wait_until(delivered(queue, 1))
    assert counters.get("delivery.outage") == 1
    assert "did not answer within 0.3s (SMARTCAM_READ_TIMEOUT_S)" in caplog.text
    assert wait_until(lambda: target.ids().count("evt-1") == 2)  # the slow one is recorded once it has slept
    # Both carried the same Idempotency-Key, so the server can tell the second is a duplicate.


@pytest.mark.parametrize("status", [401, 403, 404])
def test_target_configuration_errors_keep_events_queued_not_dead_lettered(target, start_delivery, make_event,
                                                                          wait_until, status):
    target.rule = lambda _event_id: Reply(status)
    queue, deliverer = start_delivery(target.url)
    queue.put(make_event(1))
    assert wait_until(lambda: len(target.requests) >= 3)
    figures = queue.figures()
    assert (figures.queued, figures.dead_letter) == (1, 0)
    assert str(status) in deliverer.last_error
    target.rule = None
    assert wait_until(delivered(queue, 1))


def test_redirects_are_not_followed(target, start_delivery, make_event, wait_until):
    target.script.append(Reply(301, {"Location": "/moved"}))
    queue, _ = start_delivery(target.url)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    assert [r.path for r in target.requests] == ["/events", "/events"]


def test_credentials_come_from_files(target, start_delivery, make_event, wait_until, tmp_path):
    (tmp_path / "token").write_text("s3cr3t\n")
    (tmp_path / "header").write_text("X-Api-Key: abc123\n")
    queue, _ = start_delivery(target.url, auth_token_file=tmp_path / "token", auth_header_file=tmp_path / "header")
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    [request] = target.requests
    assert request.headers["Authorization"] == "Bearer s3cr3t"
    assert request.headers["X-Api-Key"] == "abc123"


@pytest.mark.parametrize(("payload_format", "content_type"), [("multipart", "multipart/form-data; boundary="),
                                                               ("legacy", "application/json")])
def test_other_payload_formats_are_sent_as_configured(target, start_delivery, make_event, wait_until,
                                                      payload_format, content_type):
    queue, _ = start_delivery(target.url, payload_format=payload_format)
    queue.put(make_event(1))
    assert wait_until(delivered(queue, 1))
    [request] = target.requests
    assert request.headers["Content-Type"].startswith(content_type)
    assert request.event_id == "evt-1"
    if payload_format == "legacy":
        assert set(json.loads(request.body)) == {"photo", "time", "location", "filename"}


def test_several_requests_in_flight_deliver_everything_once(target, start_delivery, make_event, wait_until):
    target.rule = lambda _event_id: Reply(200, delay_s=0.05)
    queue, _ = start_delivery(target.url, max_in_flight=3)
    for n in range(9):
        queue.put(make_event(n))
    assert wait_until(delivered(queue, 9))
    assert sorted(target.delivered_ids()) == sorted(f"evt-{n}" for n in range(9))


def test_backoff_uses_full_jitter_under_a_growing_ceiling():
    backoff = Backoff(1.0, 8.0, random.Random(7))
    ceilings = [1, 2, 4, 8, 8, 8]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)
    assert backoff.next_delay(retry_after_s=30) == 30  # the server said when: believed, not jittered
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 06:01:30 GMT", now) == 90
    assert parse_retry_after("Fri, 27 Nov 2026 05:00:00 GMT", now) == 1  # in the past: the 1 s minimum
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_a_damaged_stored_event_is_dead_lettered_not_retried_forever(target, start_delivery, make_event, wait_until):
    def store_and_damage(queue):  # before delivery starts, so it is damaged before it can be claimed
        queue.put(make_event(1))
        damage_stored_event(queue.directory, "evt-1", "metadata = '{}'")
        queue.put(make_event(2))

    queue, _ = start_delivery(target.url, before=store_and_damage)
    assert wait_until(delivered(queue, 1))
    assert target.ids() == ["evt-2"]
    [letter] = queue.snapshot().dead_letters
    assert letter.event_id == "evt-1"
    assert "cannot build the request" in letter.reason


def test_a_queue_error_while_recording_leaves_the_event_queued_and_delivery_going(target, start_delivery, make_event,
                                                                                  wait_until, monkeypatch, counters):
    queue, _ = start_delivery(target.url)
    original = queue.mark_delivered
    failures = []

    def flaky_mark_delivered(event_id):
        if not failures:
            failures.append(event_id)
            raise sqlite3.OperationalError("disk I/O error")
        original(event_id)

    monkeypatch.setattr(queue, "mark_delivered", flaky_mark_delivered)
    queue.put(make_event(1))
    queue.put(make_event(2))
    assert wait_until(delivered(queue, 2))
    assert failures == ["evt-1"]
    assert target.ids() == ["evt-1", "evt-1", "evt-2"]  # resent with the same Idempotency-Key
    assert counters.get("delivery.queue_error.OperationalError") == 1
