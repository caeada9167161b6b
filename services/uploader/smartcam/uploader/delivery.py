"""Sends queued events to the target in capture-time order, patiently, over links as poor as 2G.

One request at a time by default (`max_in_flight`): on a thin link parallel uploads only
compete for bandwidth and time out together. Failures back off with full jitter; an outage is
logged when it starts and when it ends, and only counted in between.

The target is not trusted either: a reply is read only up to `MAX_REPLY_BYTES` (its status and a
short head are all the uploader needs), an attempt has a total deadline (smartcam.common.http_deadline), and anything
one event makes go wrong dead-letters that event; nothing an event or a reply holds stops the loop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests
import urllib3
from urllib3.exceptions import InsecureRequestWarning

from smartcam.common.counters import Counters
from smartcam.common.http_deadline import Watch, bounded_session, deadline
from smartcam.common.logs import OncePerKind
from smartcam.common.settings import env_name
from smartcam.common.wire import ID_RULE, valid_id
from smartcam.uploader import payloads
from smartcam.uploader.backoff import Backoff
from smartcam.uploader.data_budget import DataBudget
from smartcam.uploader.heartbeat import KIND as HEARTBEAT
from smartcam.uploader.heartbeat import Heartbeat
from smartcam.uploader.outbox import OutboxMessage
from smartcam.uploader.outcomes import (
    Outcome,
    Verdict,
    deadline_passed,
    from_exception,
    from_response,
    refused_for_good,
    shown,
    unexpected,
)
from smartcam.uploader.pacing import Pace, wire_bytes
from smartcam.uploader.queue import EventQueue, QueuedEvent
from smartcam.uploader.recent import RecentErrors
from smartcam.uploader.settings import UploaderSettings
from smartcam.uploader.stuck import StuckEvent, StuckWatch
from smartcam.uploader.target import Target
from smartcam.uploader.windows import UploadWindows

IDLE_WAIT_S = 1.0
PRUNE_INTERVAL_S = 3600.0
USER_AGENT = "smartcam-uploader/1"
MAX_REPLY_BYTES = 64 * 1024  # of a reply body, at most: the status decides, a short head explains a refusal
READ_CHUNK_BYTES = 8192


def make_session(settings: UploaderSettings, extra_headers: dict[str, str]) -> requests.Session:
    """One keep-alive session: on 2G a fresh TCP+TLS handshake per upload costs seconds."""
    session = requests.Session()
    session.verify = settings.tls_verify
    if not settings.tls_verify:
        urllib3.disable_warnings(InsecureRequestWarning)  # said once at start (see Deliverer.run), not per request
    # identity: a compressed reply could inflate far beyond what was read off the wire
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **extra_headers})
    return bounded_session(session, pool_connections=1, pool_maxsize=settings.max_in_flight, max_retries=0)


class Deliverer:
    """The delivery loop; `run` in its own thread until `stop` is set."""

    def __init__(self, queue: EventQueue, target: Target, *, settings: UploaderSettings, session: requests.Session,
                 logger: logging.Logger, counters: Counters, stop: threading.Event,
                 heartbeat: tuple[Heartbeat, Target] | None = None, budget: DataBudget | None = None,
                 windows: UploadWindows | None = None) -> None:
        self._queue = queue
        self._target = target
        self._heartbeat = heartbeat
        self._settings = settings
        self._session = session
        self._logger = logger
        self._counters = counters
        self._stop = stop
        self._backoff = Backoff(settings.backoff_base_s, settings.backoff_cap_s)
        self._pace = Pace(settings.upload_rate_bps)
        self._budget = budget or DataBudget.for_settings(settings, queue)  # shared with the heartbeat, which reports it
        self._windows = windows or UploadWindows(settings.windows)  # shared with the heartbeat, which reports them
        self._waiting_for_window: frozenset[str] = frozenset()  # classes known to wait for their window
        self._closed_before: frozenset[str] = frozenset()
        self._holding = OncePerKind(logger, counters, "delivery.held")
        self._outages = OncePerKind(logger, counters, "delivery")
        self._queue_trouble = OncePerKind(logger, counters, "delivery.queue_error")
        self._outage_started: float | None = None
        self._pool = ThreadPoolExecutor(settings.max_in_flight, "upload") if settings.max_in_flight > 1 else None
        self._last_prune = time.monotonic()
        self._heartbeat_refusals = OncePerKind(logger, counters, "heartbeat.rejected")
        self._retry_after = OncePerKind(logger, counters, "delivery.retry_after")
        self._unexpected = OncePerKind(logger, counters, "delivery.unexpected")
        self._stuck = StuckWatch(settings.stuck_after_attempts)
        self.errors: RecentErrors = queue.errors
        self.last_error: str | None = None

    def run(self) -> None:
        self._logger.info("delivering to %s (from %s) as %s, %d request(s) at a time", self._target.shown,
                          self._target.source, self._settings.payload_format.value, self._settings.max_in_flight)
        if not self._settings.tls_verify and self._target.url.lower().startswith("https"):
            self._logger.warning("TLS certificates are NOT verified (%s=false): anyone on the path can read and "
                                 "alter uploads; use this only with a test server", env_name("tls_verify"))
        try:
            while not self._stop.is_set():
                try:
                    self.step()
                except (sqlite3.Error, OSError) as error:
                    # The outcome was not recorded, so the event is still queued and is sent again later.
                    self._queue_trouble.report(type(error).__name__, f"cannot record a delivery in the queue: {error}")
                    self._stop.wait(self._backoff.next_delay())
                except Exception as error:  # a bug must not end delivery for good: pause, count, go on
                    self._logger.debug("unexpected error in the delivery loop", exc_info=True)
                    self._unexpected.report(type(error).__name__, f"delivery hit an unexpected error and goes on "
                                            f"after a pause: {type(error).__name__}: {shown(str(error), 200)}",
                                            logging.ERROR)
                    self._stop.wait(self._backoff.next_delay())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._session.close()

    def step(self) -> None:
        """Send the heartbeat if its turn has come, else the next batch of events (one by default)."""
        closed = self._windows.closed_now()
        if self._heartbeat is not None:
            heartbeat, heartbeat_target = self._heartbeat
            heartbeat.store_if_due()
            message = heartbeat.ready(events_waiting=not self._budget.held()
                                      and self._queue.has_queued(excluding=closed))
            if message is not None:
                self._send_heartbeat(message, heartbeat_target)
                return
        if self._budget.held():  # events wait for the data budget to renew; a heartbeat that comes due still goes
            self._stop.wait(min(IDLE_WAIT_S, self._budget.seconds_held()))
            return
        constrained = self._budget.limited or self._settings.upload_rate_bps > 0  # detections before samples
        batch = self._queue.claim(self._settings.max_in_flight, detections_first=constrained, excluding=closed)
        if not batch or closed != self._closed_before:  # not on every event of a busy queue: it counts the queue
            self._note_windows(closed)
        if not batch:
            self._prune_now_and_then()
            self._queue.wait_for_work(IDLE_WAIT_S, self._stop)
            return
        try:
            outcomes = list(self._pool.map(self._attempt, batch)) if self._pool else [self._attempt(batch[0])]
            results = [(item.event_id, o, self._settle(item, o)) for item, o in zip(batch, outcomes, strict=True)]
        finally:
            for item in batch:  # whatever an error left unsettled goes back into the queue
                self._queue.release(item.event_id)
        self._stuck.batch_done(results)
        retries = [o for _, o, settled in results if not settled and o is not None and o.verdict is not Verdict.HELD]
        if any(o is not None and o.verdict is Verdict.HELD for _, o, _ in results):
            self._hold()
        elif retries:
            self._fail(retries[0], max((o.retry_after_s for o in retries if o.retry_after_s), default=None))
        elif self._outage_started is not None:
            self._recover(self._outage_started)

    def _note_windows(self, closed: frozenset[str]) -> None:
        """Log once when a class of events starts waiting for its upload window, and when it opens again."""
        if not closed and not self._waiting_for_window:
            self._closed_before = closed
            return
        queued = self._queue.queued_by_class() if closed else {}
        waiting = frozenset(name for name in closed if queued.get(name))
        for name in sorted(waiting - self._waiting_for_window):
            opens = self._windows.next_opening_now(name)
            self._holding.report(f"window_{name}", f"{name} wait for their upload window "
                                 f"({env_name('upload_windows')}), which opens next at {_utc(opens)} "
                                 "(nothing is dropped; heartbeats still go)", logging.INFO)
        for name in sorted(self._waiting_for_window - closed):
            self._logger.info("the upload window of %s is open: they go now", name)
            self._holding.forget(f"window_{name}")
        self._waiting_for_window = waiting | (self._waiting_for_window & closed)
        self._closed_before = closed

    def _send_heartbeat(self, message: OutboxMessage, target: Target) -> None:
        """A heartbeat is never dead-lettered: refused for good, it is dropped (counted); the next one comes."""
        body = payloads.RequestBody(message.document.encode(), "application/json")
        outcome = self._post(target, body, message.message_id, budgeted=False)
        if outcome.verdict is Verdict.DELIVERED:
            self._queue.message_done(HEARTBEAT, message.message_id, "heartbeats_sent")
            self._backoff.reset()
            if self._outage_started is not None:
                self._recover(self._outage_started)
        elif refused_for_good(outcome):
            self._queue.message_done(HEARTBEAT, message.message_id, "heartbeats_rejected")
            self._heartbeat_refusals.report(str(outcome.http_status), f"the heartbeat was refused: {outcome.detail}; "
                                            f"check {env_name('heartbeat_url')} (events are not affected)")
        else:
            self._fail(outcome, outcome.retry_after_s)

    def stuck(self) -> StuckEvent | None:
        """An event the target keeps refusing while it answers (see `stuck`), for the health check."""
        return self._stuck.stuck()

    def _attempt(self, item: QueuedEvent) -> Outcome | None:
        """One upload; None if the event's stored image is gone (then it was accounted for as lost).

        Never raises for a problem of this one event: that is a dead letter with its reason.
        """
        if not valid_id(item.event_id):  # stored before ids were checked where they enter, or by a bug
            return Outcome(Verdict.DEAD_LETTER, f"{shown(repr(item.event_id), 160)} is not a valid event id "
                                                f"({ID_RULE}), so it cannot be sent as an Idempotency-Key")
        if item.description is None:
            return Outcome(Verdict.DEAD_LETTER, "its stored description is not a JSON object (damaged on disk), "
                                                "so no request can be built from it")
        try:
            image = self._queue.read_image(item)
        except OSError as error:
            self._queue.mark_lost(item.event_id, f"its stored image cannot be read: {error}")
            return None
        except Exception as error:  # a damaged row (say, no body file name): no retry can help
            return Outcome(Verdict.DEAD_LETTER, f"cannot find its stored image: {error!r}")
        try:
            body = payloads.build(self._settings.payload_format, item.description, image)
        except Exception as error:  # a damaged stored description: no retry can help
            return Outcome(Verdict.DEAD_LETTER, f"cannot build the request from the stored event: {error!r}")
        return self._post(self._target, body, item.event_id, budgeted=True)

    def _post(self, target: Target, body: payloads.RequestBody, key: str, *, budgeted: bool) -> Outcome:
        """One POST under its Idempotency-Key, paced to the upload rate, judged; never raises.

        A `budgeted` message (an event) that would overrun the data budget is held back instead.

        Network trouble and the deadline are worth a retry; anything else (say, a header the HTTP
        library refuses) is this message's own problem, which no retry fixes.
        """
        settings = self._settings
        try:
            prepared = self._session.prepare_request(requests.Request(
                "POST", target.url, data=body.content,
                headers={"Content-Type": body.content_type, "Idempotency-Key": key}))
        except Exception as error:
            return self._judged(error, target)
        refused = self._wait_for_budget_and_rate(wire_bytes(prepared), target, budgeted=budgeted)
        if refused is not None:  # the deadline starts only after the wait for the rate
            return refused
        with deadline(settings.attempt_deadline_s) as attempt:
            try:
                sending = self._session.merge_environment_settings(prepared.url, {}, True, None, None)
                response = self._session.send(
                    prepared, allow_redirects=False,
                    timeout=(min(settings.connect_timeout_s, settings.attempt_deadline_s), settings.read_timeout_s),
                    **sending)
                with response:  # closing a reply that was not read to its end drops the connection
                    head = _read_head(response, MAX_REPLY_BYTES, attempt)
                    if not attempt.expired:  # cut short, a reply read "to its end" may be only part of it
                        return from_response(response, target.shown, head)
                return deadline_passed(target.shown, settings.attempt_deadline_s)
            except Exception as error:
                if attempt.expired:
                    return deadline_passed(target.shown, settings.attempt_deadline_s)
                return self._judged(error, target)

    def _wait_for_budget_and_rate(self, size: int, target: Target, *, budgeted: bool) -> Outcome | None:
        """Book `size` bytes on the wire against the rate and the data budgets; an Outcome if it must not go now.

        The budget is booked after the wait for the rate, right before the bytes go: booked at the end
        of a day and sent in the next one, a request would count against the wrong day.
        """
        tightest = self._budget.tightest()
        if budgeted and tightest is not None and size > tightest.limit_bytes:
            return Outcome(Verdict.DEAD_LETTER, f"its {size} bytes on the wire exceed the whole data budget "
                                                f"({tightest.setting}: {tightest.limit_bytes} bytes); "
                                                "raise it to send events this large")
        if not self._pace.wait_turn(size, self._stop):
            return Outcome(Verdict.RETRY, f"not sent to {target.shown}: the uploader is stopping")
        if budgeted and not self._budget.try_spend(size):
            return Outcome(Verdict.HELD, "held back: the data budget is spent")
        if not budgeted:
            self._budget.spend(size)  # a heartbeat always goes, and counts
        return None

    def _judged(self, error: Exception, target: Target) -> Outcome:
        if isinstance(error, requests.RequestException):
            settings = self._settings
            return from_exception(error, target.shown, settings.connect_timeout_s, settings.read_timeout_s)
        return unexpected(error)

    def _settle(self, item: QueuedEvent, outcome: Outcome | None) -> bool:
        """Record the outcome in the queue; False if the event must be retried."""
        if outcome is None:
            return True
        if outcome.verdict is Verdict.DELIVERED:
            self.last_error = None
            self._backoff.reset()
            self._queue.mark_delivered(item.event_id)
            return True
        if outcome.verdict is Verdict.DEAD_LETTER:
            self._queue.dead_letter(item.event_id, outcome.http_status, outcome.detail)
            self._logger.warning("event %s moved to the dead letters (kept, see `smartcam status`): %s",
                                 shown(item.event_id, 160), outcome.detail)
            return True
        self._queue.release(item.event_id)
        return False

    def _hold(self) -> None:
        """Events wait (unclaimed) for the data budget to renew; heartbeats still go meanwhile (see `step`)."""
        allowance, renewal_s = self._budget.hold()
        self._holding.report(allowance.reason, f"the data budget ({allowance.setting}: {allowance.limit_bytes} "
                                               f"bytes) is spent: events wait {renewal_s:.0f}s for it to renew "
                                               "(nothing is dropped; heartbeats still go)", logging.INFO)

    def _fail(self, outcome: Outcome, retry_after_s: float | None) -> None:
        if self._stop.is_set():  # a wait for the rate cut short by stopping: no outage, nothing to wait for
            return
        if self._outage_started is None:
            self._outage_started = time.monotonic()
        self.last_error = outcome.detail
        self.errors.add(outcome.detail)
        if outcome.retry_after_unreadable is not None:
            self._retry_after.report("unreadable", f"ignored Retry-After {outcome.retry_after_unreadable!r} from "
                                     f"{self._target.shown}: neither seconds (ASCII digits) nor an HTTP date; "
                                     "backing off as usual")
        delay = self._backoff.next_delay(retry_after_s)
        self._outages.report("outage", f"uploads are failing: {outcome.detail}; events stay queued and are retried "
                                       f"with backoff (up to {self._settings.backoff_cap_s:g}s apart)")
        self._logger.debug("retrying in %.1fs after: %s", delay, outcome.detail)
        self._stop.wait(delay)

    def _recover(self, outage_started: float) -> None:
        self._logger.info("uploads work again after %.0fs of outage", time.monotonic() - outage_started)
        self._outage_started = None
        self._outages.forget("outage")

    def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._last_prune >= PRUNE_INTERVAL_S:
            self._last_prune = time.monotonic()
            self._queue.prune_tombstones()


def _utc(timestamp: float | None) -> str:
    return "never" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_head(response: requests.Response, limit: int, attempt: Watch) -> bytes:
    """Up to `limit` bytes of the reply body; the rest is never read (a 1.5 GB reply costs 64 kB)."""
    head = bytearray()
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        head += chunk
        if len(head) > limit or attempt.expired:
            break
    return bytes(head[:limit])
