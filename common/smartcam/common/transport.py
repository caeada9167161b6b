"""ZeroMQ socket set-up shared by the frame and event channels.

Options are chosen for links inside one device: quick reconnects, heartbeats so a killed peer
is noticed within seconds, no lingering on close, and a receiver that turns bad input into a
counted, once-logged reject instead of an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import zmq

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import Message, WireError, decode

HEARTBEAT_INTERVAL_MS = 2_000
HEARTBEAT_TIMEOUT_MS = 6_000
RECONNECT_INTERVAL_MS = 200
RECONNECT_INTERVAL_MAX_MS = 2_000


def make_socket(context: zmq.Context, kind: int, *, bind: str | None = None, connect: str | None = None,
                send_hwm: int = 1000, receive_hwm: int = 1000) -> zmq.Socket:
    """Create a socket with the project's options and bind or connect it."""
    socket = context.socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, send_hwm)
    socket.setsockopt(zmq.RCVHWM, receive_hwm)
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_INTERVAL_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    socket.setsockopt(zmq.RECONNECT_IVL, RECONNECT_INTERVAL_MS)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_INTERVAL_MAX_MS)
    if kind == zmq.ROUTER:
        # Sending to a peer that has gone raises instead of vanishing silently, so it can be counted.
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if kind == zmq.DEALER:
        # Do not queue messages for a peer that is not connected: the sender keeps them itself.
        socket.setsockopt(zmq.IMMEDIATE, 1)
    if bind:
        socket.bind(bind)
    if connect:
        socket.connect(connect)
    return socket


class MessageReader:
    """Decodes received multipart messages; malformed ones are counted and logged once per kind."""

    def __init__(self, endpoint: str, logger: logging.Logger, counters: Counters) -> None:
        self._endpoint = endpoint
        self._rejects = OncePerKind(logger, counters, "rejected")

    def read(self, parts: Sequence[Any]) -> Message | None:
        try:
            return decode(parts)
        except WireError as error:
            self._rejects.report(error.kind, f"dropped a malformed message on {self._endpoint}: {error}")
            return None

    def unexpected(self, message: Message) -> None:
        """Count a well-formed message that does not belong on this channel."""
        kind = f"unexpected_{type(message).__name__.lower()}"
        self._rejects.report(kind, f"dropped a {type(message).__name__} message, not expected on {self._endpoint}")
