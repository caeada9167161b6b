"""ZeroMQ socket set-up shared by the frame and event channels.

Options are chosen for links inside one device: quick reconnects, heartbeats so a killed peer
is noticed within seconds, no lingering on close, and a receiver that turns bad input into a
counted, once-logged reject instead of an exception.

Every socket has a maximum inbound message size (ZMQ_MAXMSGSIZE), sized for its role from the
largest legitimate message plus headroom: ZeroMQ disconnects a peer that announces a bigger part
before allocating it, so no single part makes a receiver allocate gigabytes. The limit applies to
each part: libzmq holds all parts of a message before delivering it and has no limit for the whole,
so an admitted peer sending many large parts is bounded only by CURVE (only the device's own
services get through) and the container's memory limit (bench/hostile-memory shows it).

Sockets on the `pipeline` network also get CURVE options (`pipeline_keys`): encrypted, and only the
device's own services get through.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeAlias

import zmq

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.pipeline_keys import CurveOptions
from smartcam.common.wire import Message, WireError, decode

HEARTBEAT_INTERVAL_MS = 2_000
HEARTBEAT_TIMEOUT_MS = 6_000
RECONNECT_INTERVAL_MS = 200
RECONNECT_INTERVAL_MAX_MS = 2_000

# The largest frame side capture accepts (capture's settings: SMARTCAM_FRAME_WIDTH/HEIGHT up to 8192).
MAX_FRAME_SIDE = 8192
MAX_BYTES_PER_PIXEL = 3  # RGB24/BGR24; GRAY8 is 1
# The largest payload part: a full frame at the largest resolution.
LARGEST_IMAGE_BYTES = MAX_FRAME_SIDE * MAX_FRAME_SIDE * MAX_BYTES_PER_PIXEL
HEADROOM = 1.25
# Per receiving role: what one part of an inbound message may weigh.
FRAME_RECEIVER_MAX_BYTES = int(LARGEST_IMAGE_BYTES * HEADROOM)  # infer <- capture: frames
# uploader <- infer: an event's JPEG. A 12 MP camera frame at quality 95 is a few MB; 64 MiB leaves room for
# the largest frames while keeping the uploader inside its memory limit (compose.yaml) under a hostile peer.
EVENT_RECEIVER_MAX_BYTES = 64 * 1024 * 1024
CONTROL_RECEIVER_MAX_BYTES = 64 * 1024  # capture <- infer (frame requests), infer <- uploader (acks)

# What `zmq.Context()` makes: a context whose sockets send and receive bytes.
Context: TypeAlias = zmq.Context[zmq.Socket[bytes]]


def make_socket(context: Context, kind: int, *, bind: str | None = None, connect: str | None = None,
                send_hwm: int = 1000, receive_hwm: int = 1000,
                max_message_bytes: int = CONTROL_RECEIVER_MAX_BYTES,
                curve: CurveOptions | None = None) -> zmq.Socket[bytes]:
    """Create a socket with the project's options and bind or connect it.

    `max_message_bytes` bounds each inbound part; a peer sending more is disconnected by ZeroMQ.
    Sockets that receive only small control messages keep the small default. `curve` makes the socket a
    CURVE server or client (the services always pass it; None, plain ZeroMQ, is for tests of other things).
    """
    socket = context.socket(kind)
    if curve is not None:
        curve.apply(socket)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
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
