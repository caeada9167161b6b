"""The uploader's main loop: receive an event, store it durably, acknowledge it; deliver in the background."""

from __future__ import annotations

import sqlite3
import threading
import time

import zmq

from smartcam.common.events import EventReceiver, ReceivedEvent
from smartcam.common.health import HealthReporter
from smartcam.common.pipeline_gate import Gate
from smartcam.common.pipeline_keys import own_keys, restart_when_keys_change
from smartcam.common.service import FatalError, ServiceContext, run_service
from smartcam.common.settings import env_name
from smartcam.common.wire import Ack
from smartcam.uploader.admission import Admission
from smartcam.uploader.auth import auth_headers
from smartcam.uploader.data_budget import DataBudget
from smartcam.uploader.delivery import Deliverer, make_session
from smartcam.uploader.heartbeat import Heartbeat
from smartcam.uploader.queue import EventQueue, StoreRefusedError
from smartcam.uploader.settings import UploaderSettings
from smartcam.uploader.target import resolve_heartbeat_target, resolve_target
from smartcam.uploader.windows import UploadWindows

RECEIVE_TIMEOUT_S = 0.5
HEALTH_INTERVAL_S = 1.0
STOP_GRACE_S = 5.0


def body(ctx: ServiceContext[UploaderSettings]) -> None:
    """Run until `ctx.stop`; a setting or volume the service cannot work with raises FatalError/SettingsError."""
    settings = ctx.settings
    target = resolve_target(settings, ctx.logger)
    heartbeat_target = resolve_heartbeat_target(settings, target)
    session = make_session(settings, auth_headers(settings))
    queue = _open_queue(ctx)
    keys = own_keys(settings.pipeline_keys_dir, "uploader")
    restart_when_keys_change(settings.pipeline_keys_dir, {"uploader": keys.public}, ctx.stop, ctx.logger)
    admission = Admission(settings.camera_id, ctx.logger, ctx.counters)
    context = zmq.Context()
    gate = Gate(context, settings.pipeline_keys_dir, ctx.logger, ctx.counters)
    try:  # events only from infer (CURVE, by its published key)
        receiver = EventReceiver(context, settings.events_endpoint, ctx.counters, ctx.logger,
                                 curve=gate.server("uploader", keys, clients=["infer"]))
    except zmq.ZMQError as error:
        gate.close()
        context.destroy(linger=0)
        raise FatalError(f"cannot listen on {env_name('events_endpoint')}={settings.events_endpoint}: {error}; "
                         "use a free tcp://*:<port> that infer connects to") from None
    heartbeat = None
    budget = DataBudget.for_settings(settings, queue)  # one: delivery spends it, the heartbeat reports it
    windows = UploadWindows(settings.windows)  # likewise
    if settings.upload_windows:
        ctx.logger.info("events go only in their upload windows (UTC): %s", settings.upload_windows)
    if heartbeat_target is not None:
        heartbeat = (Heartbeat(settings, queue, queue.errors, ctx.logger, ctx.counters, budget=budget,
                               windows=windows), heartbeat_target)
        ctx.logger.info("heartbeat every %gs to %s", settings.heartbeat_interval_s, heartbeat_target.shown)
    deliverer = Deliverer(queue, target, settings=settings, session=session, logger=ctx.logger,
                          counters=ctx.counters, stop=ctx.stop, heartbeat=heartbeat, budget=budget, windows=windows)
    delivery = DeliveryThread(deliverer, ctx)
    delivery.start()
    health = HealthTicker(ctx.health, queue, deliverer)
    ctx.logger.info("storing events from %s in %s", settings.events_endpoint, settings.queue_dir)
    try:
        while not ctx.stop.is_set():
            received = receiver.receive(RECEIVE_TIMEOUT_S)
            if received is not None:
                store_and_acknowledge(queue, receiver, received, admission)
            if delivery.failure is not None:
                raise FatalError(f"the delivery thread stopped: {delivery.failure}")
            health.tick()
    finally:
        ctx.stop.set()
        delivery.join(STOP_GRACE_S)  # a request still in flight is resent after restart (same Idempotency-Key)
        receiver.close()
        gate.close()
        context.destroy(linger=0)
        if not delivery.is_alive():
            queue.close()


def store_and_acknowledge(queue: EventQueue, receiver: EventReceiver, received: ReceivedEvent,
                          admission: Admission) -> None:
    """Acknowledge only what is durably stored; a refusal goes back with its reason so infer resends later."""
    event_id = received.event.event_id
    if (reason := admission.refusal(received.event)) is not None:
        receiver.ack(received.peer, Ack(event_id, stored=False, reason=reason))
        return
    try:
        queue.put(received.event)
    except StoreRefusedError as refusal:
        receiver.ack(received.peer, Ack(event_id, stored=False, reason=refusal.reason))
        return
    receiver.ack(received.peer, Ack(event_id, stored=True))


def _open_queue(ctx: ServiceContext[UploaderSettings]) -> EventQueue:
    settings = ctx.settings
    try:
        return EventQueue(settings.queue_dir, settings.queue_budget_bytes, ctx.logger, ctx.counters)
    except (OSError, sqlite3.Error) as error:
        raise FatalError(f"cannot open the queue in {settings.queue_dir} ({env_name('queue_dir')}): {error}; "
                         "mount a writable volume there") from None


class DeliveryThread(threading.Thread):
    """Runs the Deliverer; keeps the reason if it dies, so the main loop can stop with it."""

    def __init__(self, deliverer: Deliverer, ctx: ServiceContext[UploaderSettings]) -> None:
        super().__init__(name="delivery", daemon=True)
        self._deliverer = deliverer
        self._logger = ctx.logger
        self.failure: str | None = None

    def run(self) -> None:
        try:
            self._deliverer.run()
        except Exception as error:
            self.failure = f"{type(error).__name__}: {error}"
            self._logger.exception("delivery stopped unexpectedly")


class HealthTicker:
    """Working = the loop is alive and the queue can take events; details show depth and the last upload error."""

    def __init__(self, health: HealthReporter, queue: EventQueue, deliverer: Deliverer) -> None:
        self._health = health
        self._queue = queue
        self._deliverer = deliverer
        self._last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < HEALTH_INTERVAL_S:
            return
        self._last = now
        problem = self._queue.write_problem() or self._stuck_problem()
        if problem:
            self._health.failing(problem)
            return
        try:
            figures = self._queue.figures()
        except sqlite3.Error as error:  # the figures are for people; the service keeps storing and delivering
            self._health.degraded(f"cannot read the queue's figures: {error}")
            return
        self._health.working(queue_depth=figures.queued, dead_letters=figures.dead_letter,
                             oldest_queued_age_s=figures.oldest_queued_age_s,
                             last_delivery_error=self._deliverer.last_error)

    def _stuck_problem(self) -> str | None:
        stuck = self._deliverer.stuck()
        if stuck is None:
            return None
        return (f"the queue is stuck: the target refused event {stuck.event_id} {stuck.refusals} times "
                f"({env_name('stuck_after_attempts')}) while it answers, last: {stuck.last}; the events captured "
                "after it wait. Fix what the target objects to (`smartcam status` shows the queue)")


def main() -> int:
    return run_service("uploader", UploaderSettings, body)
