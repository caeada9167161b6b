"""Bounded ZeroMQ receivers: an oversized part disconnects its sender; the receiver keeps serving others."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import zmq
from PIL import Image
from zmq.utils.monitor import recv_monitor_message

from smartcam.common.counters import Counters
from smartcam.common.events import EventReceiver
from smartcam.common.frames import LatestFrameClient, LatestFrameServer
from smartcam.common.transport import (
    CONTROL_RECEIVER_MAX_BYTES,
    EVENT_RECEIVER_MAX_BYTES,
    FRAME_RECEIVER_MAX_BYTES,
    MAX_FRAME_SIDE,
    make_socket,
)
from smartcam.common.wire import Frame, ImagePart, encode

REPO = Path(__file__).resolve().parents[3]


def small_frame(seq: int) -> Frame:
    pixels = np.full((8, 8, 3), seq, dtype=np.uint8)
    return Frame("cam", seq, datetime.now(UTC), None, [ImagePart("main", "RGB24", (8, 8, 3))], [pixels])


def wait_for_event(monitor: zmq.Socket, wanted: int, timeout_s: float = 5.0) -> bool:
    """True once the monitor reports `wanted`; False if it does not within `timeout_s` (a bound, not a measure)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if monitor.poll(50, zmq.POLLIN) and recv_monitor_message(monitor)["event"] == wanted:
            return True
    return False


def test_oversized_part_disconnects_its_sender_and_the_frame_server_keeps_serving(zmq_context, counters, logger,
                                                                                   free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger)  # capture: receives only frame requests
    hostile = zmq_context.socket(zmq.DEALER)
    hostile.setsockopt(zmq.LINGER, 0)
    monitor = hostile.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    hostile.connect(endpoint)
    assert wait_for_event(monitor, zmq.EVENT_CONNECTED)
    hostile.send(b"x" * (CONTROL_RECEIVER_MAX_BYTES + 1))
    disconnected = False
    deadline = time.monotonic() + 5.0
    while not disconnected and time.monotonic() < deadline:
        server.serve(0.02)  # the oversized part must never reach the application
        disconnected = monitor.poll(0, zmq.POLLIN) and recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
    assert disconnected, "ZeroMQ should drop a peer that sends a part over the socket's MAXMSGSIZE"
    assert not any(name.startswith("rejected.") for name in counters.snapshot())  # ZeroMQ dropped it undecoded

    client = LatestFrameClient(zmq_context, endpoint, Counters(), logger)  # a well-behaved infer
    server.offer(small_frame(7))
    got = None
    deadline = time.monotonic() + 5.0
    while got is None and time.monotonic() < deadline:
        server.serve(0.02)
        got = client.next_frame(0.02)
    assert got is not None
    assert got.seq == 7
    monitor.close()
    hostile.close()
    client.close()
    server.close()


def test_a_bound_is_per_socket_role(zmq_context, free_port, logger):
    """A role's own bound applies: a part just over it is refused, one at it is delivered."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    limit = 100_000
    receiver = make_socket(zmq_context, zmq.ROUTER, bind=endpoint, max_message_bytes=limit)
    sender = make_socket(zmq_context, zmq.DEALER, connect=endpoint)
    monitor = sender.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    sender.send(b"a" * limit)
    assert receiver.poll(5000, zmq.POLLIN)
    assert len(receiver.recv_multipart()[1]) == limit
    sender.send(b"b" * (limit + 1))
    assert wait_for_event(monitor, zmq.EVENT_DISCONNECTED)
    assert not receiver.poll(0, zmq.POLLIN)
    for socket in (monitor, sender, receiver):
        socket.close()


def test_each_receiver_is_sized_for_its_largest_legitimate_message(zmq_context, counters, logger, free_port):
    largest_frame = MAX_FRAME_SIDE * MAX_FRAME_SIDE * 3  # RGB24 at the largest resolution capture accepts
    assert largest_frame < FRAME_RECEIVER_MAX_BYTES <= 2 * largest_frame
    # The largest JPEG a real 12 MP camera frame makes at the highest quality infer allows fits an event.
    photo = Image.open(REPO / "services/capture/photos/coffee.jpg").convert("RGB").resize((4056, 3040))
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=95)
    assert len(jpeg.getvalue()) * 4 < EVENT_RECEIVER_MAX_BYTES
    # A frame request and an ack fit many times over in the control bound.
    assert len(encode(small_frame(1))[0]) * 10 < CONTROL_RECEIVER_MAX_BYTES
    frames = LatestFrameClient(zmq_context, f"tcp://127.0.0.1:{free_port}", counters, logger)
    events = EventReceiver(zmq_context, f"tcp://127.0.0.1:{free_port}", counters, logger)
    server = LatestFrameServer(zmq_context, "tcp://127.0.0.1:*", counters, logger)
    try:
        assert frames._socket.getsockopt(zmq.MAXMSGSIZE) == FRAME_RECEIVER_MAX_BYTES
        assert events._socket.getsockopt(zmq.MAXMSGSIZE) == EVENT_RECEIVER_MAX_BYTES
        assert server._socket.getsockopt(zmq.MAXMSGSIZE) == CONTROL_RECEIVER_MAX_BYTES
    finally:
        frames.close()
        events.close()
        server.close()
