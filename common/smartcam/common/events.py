"""Event channel (infer -> uploader) with acknowledgements.

Infer keeps every event until the uploader acknowledges that it stored it durably, and
resends unacknowledged events, under the same event id, after a reconnect or when an ack is
overdue; the uploader stores idempotently by event id. What infer holds is bounded: when the
bound is reached the oldest unacknowledged event is given up, counted and logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.pipeline_keys import CurveClient, CurveServer
from smartcam.common.transport import EVENT_RECEIVER_MAX_BYTES, Context, MessageReader, make_socket
from smartcam.common.wire import Ack, Event, encode

# Backoff before resending an event the uploader refused (e.g. its disk was full).
REFUSED_RETRY_S = 5.0


@dataclass
class _Pending:
    parts: list[bytes]
    sent_at: float | None  # None: (re)send at the next chance (not sent yet, or the connection dropped)


class EventSender:
    """Infer side: a DEALER that sends events and tracks them until acknowledged."""

    def __init__(self, context: Context, endpoint: str, counters: Counters, logger: logging.Logger,
                 *, max_unacked: int, ack_timeout_s: float, curve: CurveClient | None = None) -> None:
        self._socket = make_socket(context, zmq.DEALER, connect=endpoint, curve=curve)
        self._monitor = self._socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self._reader = MessageReader(endpoint, logger, counters)
        self._counters = counters
        self._logger = logger
        self._outage = OncePerKind(logger, counters, "events.outage")
        self._max_unacked = max_unacked
        self._ack_timeout_s = ack_timeout_s
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    @property
    def unacked(self) -> int:
        return len(self._pending)

    def send(self, event: Event) -> None:
        """Hold the event until acknowledged and try to send it now."""
        if event.event_id in self._pending:
            return
        while len(self._pending) >= self._max_unacked:
            given_up, _ = self._pending.popitem(last=False)
            self._counters.inc("events.overflow_dropped")
            self._outage.report("overflow", f"infer holds {self._max_unacked} unacknowledged events "
                                f"(SMARTCAM_MAX_UNACKED_EVENTS); gave up the oldest, {given_up}")
        self._pending[event.event_id] = _Pending([bytes(p) for p in encode(event)], None)
        self._counters.inc("events.created")
        self._transmit(event.event_id)

    def poll(self, timeout_s: float = 0.0) -> None:
        """Process acks and connection changes; resend what is overdue."""
        self._handle_connection_events()
        deadline = time.monotonic() + timeout_s
        while self._socket.poll(max(0, int((deadline - time.monotonic()) * 1000)), zmq.POLLIN):
            message = self._reader.read(self._socket.recv_multipart())
            if isinstance(message, Ack):
                self._on_ack(message)
            elif message is not None:
                self._reader.unexpected(message)
            if time.monotonic() >= deadline:
                break
        self._resend_overdue()

    def _on_ack(self, ack: Ack) -> None:
        pending = self._pending.get(ack.event_id)
        if pending is None:
            self._counters.inc("events.ack_duplicate")
            return
        if ack.stored:
            del self._pending[ack.event_id]
            self._counters.inc("events.acked")
            return
        self._counters.inc("events.refused")
        self._outage.report("refused", f"uploader refused event {ack.event_id}: {ack.reason}; keeping it to resend")
        # Retry after REFUSED_RETRY_S rather than the ack timeout.
        pending.sent_at = time.monotonic() - self._ack_timeout_s + REFUSED_RETRY_S

    def _transmit(self, event_id: str) -> None:
        pending = self._pending[event_id]
        try:
            self._socket.send_multipart(pending.parts, flags=zmq.NOBLOCK)
        except zmq.Again:
            pending.sent_at = None
            self._outage.report("unreachable", "uploader not reachable; holding events until it is")
            return
        pending.sent_at = time.monotonic()

    def _resend_overdue(self) -> None:
        now = time.monotonic()
        for event_id, pending in list(self._pending.items()):
            if pending.sent_at is None or now - pending.sent_at >= self._ack_timeout_s:
                if pending.sent_at is not None:
                    self._counters.inc("events.resent")
                self._transmit(event_id)
                if self._pending[event_id].sent_at is None:
                    break  # still unreachable: try the rest later

    def _handle_connection_events(self) -> None:
        """After a disconnect, whatever was sent may be lost: mark it all for sending again."""
        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._outage.forget("unreachable")
                self._logger.info("uploader connected; %d unacknowledged events to send", len(self._pending))
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._logger.warning("uploader disconnected; %d events held for resending", len(self._pending))
                for pending in self._pending.values():
                    if pending.sent_at is not None:
                        pending.sent_at = None
                        self._counters.inc("events.resent")

    def close(self) -> None:
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        self._socket.close(linger=0)


@dataclass(frozen=True)
class ReceivedEvent:
    peer: bytes
    event: Event


class EventReceiver:
    """Uploader side: a bound ROUTER that receives events and sends acks back to their sender."""

    def __init__(self, context: Context, endpoint: str, counters: Counters, logger: logging.Logger,
                 *, curve: CurveServer | None = None) -> None:
        self._socket = make_socket(context, zmq.ROUTER, bind=endpoint, max_message_bytes=EVENT_RECEIVER_MAX_BYTES,
                                   curve=curve)
        self._reader = MessageReader(endpoint, logger, counters)
        self._counters = counters
        self._logger = logger

    def receive(self, timeout_s: float) -> ReceivedEvent | None:
        """The next well-formed event, or None after `timeout_s`; malformed input is counted, not raised."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not self._socket.poll(remaining_ms, zmq.POLLIN):
                return None
            peer, *parts = self._socket.recv_multipart()
            message = self._reader.read(parts)
            if isinstance(message, Event):
                return ReceivedEvent(peer, message)
            if message is not None:
                self._reader.unexpected(message)

    def ack(self, peer: bytes, ack: Ack) -> None:
        """Send an ack; if the sender is gone it will resend the event, so a failure is only counted."""
        try:
            self._socket.send_multipart([peer, *encode(ack)], flags=zmq.NOBLOCK)
        except zmq.ZMQError as error:
            self._counters.inc("acks.unsent")
            self._logger.debug("ack for %s not sent (%s); the sender will resend", ack.event_id, error)

    def close(self) -> None:
        self._socket.close(linger=0)
