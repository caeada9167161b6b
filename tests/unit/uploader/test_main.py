"""The service loop over real ZeroMQ sockets: receive, store durably, acknowledge, deliver; refusals and health."""

import errno
import json
import os
import threading
import time

import pytest

from smartcam.common.counters import Counters
from smartcam.common.events import EventSender
from smartcam.common.health import HealthReporter
from smartcam.common.service import FatalError, ServiceContext
from smartcam.common.settings import SettingsError
from smartcam.uploader import status
from smartcam.uploader.main import body
from tests.conftest import find_free_port

from .conftest import Reply, _wait_until, as_infer


@pytest.fixture
def service(make_settings, logger, tmp_path):
    """Runs the uploader body in a thread; stops it on teardown."""
    running = []

    def start(**overrides):
        settings = make_settings(**overrides)
        counters = Counters()
        ctx = ServiceContext(settings, logger, HealthReporter(settings.health_file, "uploader", counters), counters,
                             threading.Event())
        failures = []

        def run():
            try:
                body(ctx)
            except Exception as error:
                failures.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        running.append((ctx, thread, failures))
        # The loop has run once (health written) or the service failed: tests read the health file at will.
        assert _wait_until(lambda: settings.health_file.exists() or failures)
        return ctx, failures

    yield start
    for ctx, thread, failures in running:
        already_failed = list(failures)
        ctx.stop.set()
        thread.join(10)
        assert not thread.is_alive()
        assert failures == already_failed  # stopping is clean, not an error


def pump(sender, condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        sender.poll(0.02)
    return condition()


def test_events_are_acknowledged_once_stored_and_then_delivered(service, target, zmq_context, free_port, logger,
                                                                make_event, wait_until):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ctx, _ = service(upload_url=target.url, events_endpoint=endpoint)
    sender_counters = Counters()
    sender = EventSender(zmq_context, endpoint, sender_counters, logger, max_unacked=10, ack_timeout_s=5,
                         curve=as_infer(ctx.settings.pipeline_keys_dir))
    for n in range(3):
        sender.send(make_event(n))
    assert pump(sender, lambda: sender_counters.get("events.acked") == 3)
    sender.send(make_event(1))  # infer resends after a lost ack: acknowledged again, stored once
    assert pump(sender, lambda: sender_counters.get("events.acked") == 4)
    assert wait_until(lambda: len(target.delivered_ids()) == 3)
    assert sorted(target.delivered_ids()) == ["evt-0", "evt-1", "evt-2"]
    # The target records a request before it answers; the queue marks it delivered once the answer is read.
    assert wait_until(lambda: status.collect(ctx.settings.queue_dir)["delivered"] == 3)
    figures = status.collect(ctx.settings.queue_dir)
    assert (figures["received"], figures["delivered"]) == (3, 3)
    assert figures["duplicates"] >= 1  # at least our resend; infer also resends on (re)connect
    assert wait_until(lambda: json.loads(ctx.settings.health_file.read_text())["details"].get("queue_depth") == 0)
    health = json.loads(ctx.settings.health_file.read_text())
    assert health["status"] == "ok"
    assert health["details"]["last_delivery_error"] is None
    sender.close()


def test_a_full_disk_is_acknowledged_as_refused_and_shown_in_health(service, target, zmq_context, free_port, logger,
                                                                    make_event, monkeypatch, wait_until):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ctx, _ = service(upload_url=target.url, events_endpoint=endpoint)

    def disk_full(_descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    sender_counters = Counters()
    sender = EventSender(zmq_context, endpoint, sender_counters, logger, max_unacked=10, ack_timeout_s=5,
                         curve=as_infer(ctx.settings.pipeline_keys_dir))
    monkeypatch.setattr(os, "fsync", disk_full)
    sender.send(make_event(1))
    assert pump(sender, lambda: sender_counters.get("events.refused") >= 1)
    assert sender.unacked == 1  # infer keeps it to resend
    assert wait_until(lambda: json.loads(ctx.settings.health_file.read_text())["status"] == "failing")
    assert "free disk space" in json.loads(ctx.settings.health_file.read_text())["reason"]
    assert ctx.counters.get("refused") >= 1
    assert status.collect(ctx.settings.queue_dir)["received"] == 0
    monkeypatch.undo()
    sender.close()


def test_an_endpoint_it_cannot_bind_is_fatal_with_the_variable_named(service, wait_until, target):
    _, failures = service(upload_url=target.url, events_endpoint="tcp://256.0.0.1:1")
    assert wait_until(lambda: failures)
    assert isinstance(failures[0], FatalError)
    assert "SMARTCAM_EVENTS_ENDPOINT" in str(failures[0])


def test_a_malformed_upload_url_stops_the_service_with_its_source_named(service, wait_until):
    _, failures = service(upload_url="ftp://nowhere")
    assert wait_until(lambda: failures)
    assert isinstance(failures[0], SettingsError)
    assert "SMARTCAM_UPLOAD_URL" in str(failures[0])


def test_an_event_the_answering_target_keeps_refusing_makes_health_fail_until_it_moves(
        service, target, zmq_context, free_port, logger, make_event, wait_until):
    """The stuck-head rule: SMARTCAM_STUCK_AFTER_ATTEMPTS answered failures of one event (here 3)."""
    target.rule = lambda event_id: Reply(500, body=b"boom") if event_id == "evt-0" else None
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ctx, _ = service(upload_url=target.url, events_endpoint=endpoint, stuck_after_attempts=3)
    sender_counters = Counters()
    sender = EventSender(zmq_context, endpoint, sender_counters, logger, max_unacked=10, ack_timeout_s=5,
                         curve=as_infer(ctx.settings.pipeline_keys_dir))
    sender.send(make_event(0))
    sender.send(make_event(1))
    assert pump(sender, lambda: sender_counters.get("events.acked") == 2)

    def health():
        return json.loads(ctx.settings.health_file.read_text())

    assert wait_until(lambda: health()["status"] == "failing")
    assert target.ids().count("evt-0") >= 3
    assert target.delivered_ids() == []  # evt-1 waits behind it
    reason = health()["reason"]
    assert "evt-0" in reason
    assert "500" in reason
    assert "SMARTCAM_STUCK_AFTER_ATTEMPTS" in reason
    target.rule = None  # the target takes it now: the queue moves and health recovers
    assert wait_until(lambda: target.delivered_ids() == ["evt-0", "evt-1"])
    assert wait_until(lambda: health()["status"] == "ok")
    sender.close()


def test_an_unreachable_target_is_an_outage_not_a_stuck_queue(service, free_port, zmq_context, logger, make_event,
                                                              wait_until):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ctx, _ = service(upload_url=f"http://127.0.0.1:{find_free_port()}/events", events_endpoint=endpoint,
                     stuck_after_attempts=1)
    sender_counters = Counters()
    sender = EventSender(zmq_context, endpoint, sender_counters, logger, max_unacked=10, ack_timeout_s=5,
                         curve=as_infer(ctx.settings.pipeline_keys_dir))
    sender.send(make_event(0))
    assert pump(sender, lambda: sender_counters.get("events.acked") == 1)
    assert wait_until(lambda: ctx.counters.get("delivery.outage") >= 1)
    assert wait_until(lambda: json.loads(ctx.settings.health_file.read_text())["details"].get("last_delivery_error"))
    assert json.loads(ctx.settings.health_file.read_text())["status"] == "ok"
    sender.close()


def test_an_event_of_another_camera_is_refused_counted_and_not_stored(service, target, zmq_context, free_port,
                                                                      logger, make_event, wait_until, caplog):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ctx, _ = service(upload_url=target.url, events_endpoint=endpoint)
    sender_counters = Counters()
    sender = EventSender(zmq_context, endpoint, sender_counters, logger, max_unacked=10, ack_timeout_s=5,
                         curve=as_infer(ctx.settings.pipeline_keys_dir))
    forged = make_event(7)
    forged.camera_id = "cam-2"  # this device is cam-1
    sender.send(forged)
    sender.send(make_event(8))
    assert pump(sender, lambda: sender_counters.get("events.acked") == 1 and sender_counters.get("events.refused"))
    assert sender.unacked == 1
    assert ctx.counters.get("events.not_admitted.camera_id") >= 1
    assert wait_until(lambda: target.delivered_ids() == ["evt-8"])
    assert status.collect(ctx.settings.queue_dir)["received"] == 1
    refusals = [r.getMessage() for r in caplog.records if "refused event evt-7" in r.getMessage()]
    assert refusals
    assert "'cam-2'" in refusals[0]
    assert "SMARTCAM_CAMERA_ID='cam-1'" in refusals[0]
    sender.close()
