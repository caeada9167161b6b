"""Frame channel (capture -> infer) with latest-frame semantics.

ZeroMQ's CONFLATE keeps only one part of a multipart message, so it cannot carry our
header + pixels. Instead the consumer asks for frames (credit-based flow control): capture
holds only the newest frame, sends it to a consumer that asked, and counts every frame that
was replaced before anyone received it. A slow consumer therefore always gets the newest
frame and never a backlog, and no drop goes uncounted.

With the shared-memory ring (`smartcam.common.ring`, SMARTCAM_FRAME_TRANSPORT=ring) capture writes the pixels
of each frame it sends once into a ring slot (frames replaced unread cost no copy) and the message carries only
the header and the slot; the consumer maps the ring and drops (and counts) a frame whose slot was overwritten
before or while it was used.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.pipeline_keys import CurveClient, CurveServer
from smartcam.common.ring import RingError, RingReader, RingWriter
from smartcam.common.transport import FRAME_RECEIVER_MAX_BYTES, Context, MessageReader, make_socket
from smartcam.common.wire import Frame, FrameRequest, encode

# A request may be lost when capture restarts; the consumer asks again after this long.
REQUEST_RETRY_S = 2.0


@dataclass
class _HeldFrame:
    frame: Frame
    parts: list[Any] | None = None  # as wire.encode returns them (bytes, memoryviews, arrays); made on first send
    delivered_to: set[bytes] = field(default_factory=set)


class LatestFrameServer:
    """Capture side: a bound ROUTER that serves the newest frame to consumers that asked."""

    def __init__(self, context: Context, endpoint: str, counters: Counters, logger: logging.Logger,
                 ring: RingWriter | None = None, *, curve: CurveServer | None = None) -> None:
        # Outgoing frames are few and large: a small send queue per consumer keeps latency low.
        self._socket = make_socket(context, zmq.ROUTER, bind=endpoint, send_hwm=2, curve=curve)
        self._reader = MessageReader(endpoint, logger, counters)
        self._counters = counters
        self._logger = logger
        self._held: _HeldFrame | None = None
        self._waiting: set[bytes] = set()
        self._ring = ring  # None: pixels go over ZeroMQ

    def offer(self, frame: Frame) -> None:
        """Replace the held frame with a newer one and send it to every waiting consumer."""
        if self._held is not None and not self._held.delivered_to:
            self._counters.inc("frames.dropped")
        self._counters.inc("frames.captured")
        self._held = _HeldFrame(frame)  # encoded (and written to the ring) only if someone takes it
        waiting, self._waiting = self._waiting, set()
        for peer in waiting:
            self._send_held(peer)

    @property
    def awaited(self) -> bool:
        """Whether a consumer waits for a frame newer than the held one (the next `offer()` goes to it)."""
        return bool(self._waiting)

    def serve(self, timeout_s: float, *, until_awaited: bool = False) -> None:
        """Handle frame requests until `timeout_s` seconds have passed (rounded up to whole milliseconds).

        A request from a consumer that has not had the held frame is answered at once with it; one that
        has is answered by the next `offer()`. With `until_awaited` it returns as soon as one waits (`awaited`).
        """
        deadline = time.monotonic() + timeout_s
        while not (until_awaited and self._waiting):
            # Rounded up: a caller waiting for a deadline must not spin through sub-millisecond polls.
            remaining_ms = max(0, math.ceil((deadline - time.monotonic()) * 1000))
            if not self._socket.poll(remaining_ms, zmq.POLLIN):
                return
            peer, *parts = self._socket.recv_multipart(copy=False)
            message = self._reader.read(parts)
            if message is None:
                continue
            if not isinstance(message, FrameRequest):
                self._reader.unexpected(message)
                continue
            identity = peer.bytes
            if self._held is not None and identity not in self._held.delivered_to:
                self._send_held(identity)
            else:
                self._waiting.add(identity)

    def _send_held(self, peer: bytes) -> None:
        """Send the held frame to `peer`; the first send writes it to the ring (RingError if it cannot)."""
        assert self._held is not None
        if self._held.parts is None:
            if self._ring is not None:
                self._held.frame = self._ring.put(self._held.frame)
            self._held.parts = encode(self._held.frame)
        try:
            self._socket.send_multipart([peer, *self._held.parts], copy=False, flags=zmq.NOBLOCK)
        except zmq.ZMQError as error:  # the consumer is gone (EHOSTUNREACH) or its queue is full (EAGAIN)
            self._counters.inc("frames.send_failed")
            self._logger.debug("could not send frame %d to a consumer: %s", self._held.frame.seq, error)
            return
        self._held.delivered_to.add(peer)
        self._counters.inc("frames.sent")
        if self._held.frame.ring is not None and self._ring is not None:
            self._ring.pin(self._held.frame.ring)

    def close(self) -> None:
        self._socket.close(linger=0)
        if self._ring is not None:
            self._ring.close()


class LatestFrameClient:
    """Infer side: a DEALER that asks for the newest frame whenever it is ready for one.

    Ring frames are attached to `ring_file` (read-only views of their slot); without it they are refused.
    """

    def __init__(self, context: Context, endpoint: str, counters: Counters, logger: logging.Logger,
                 ring_file: Path | None = None, *, curve: CurveClient | None = None) -> None:
        self._socket = make_socket(context, zmq.DEALER, connect=endpoint, send_hwm=4, receive_hwm=4,
                                   max_message_bytes=FRAME_RECEIVER_MAX_BYTES, curve=curve)
        self._reader = MessageReader(endpoint, logger, counters)
        self._counters = counters
        self._requested_at: float | None = None
        self._last_seq: int | None = None
        self._ring = RingReader(ring_file) if ring_file is not None else None
        self._ring_problems = OncePerKind(logger, counters, "frames.ring")
        self.waited_s = 0.0  # how long the last next_frame() waited for a frame to arrive

    def next_frame(self, timeout_s: float) -> Frame | None:
        """Return the newest frame, waiting up to `timeout_s`; None if none arrived in time."""
        deadline = time.monotonic() + timeout_s
        newest: Frame | None = None
        self.waited_s = 0.0
        while newest is None:
            self._ask_if_needed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait_ms = int(min(remaining, REQUEST_RETRY_S) * 1000)
            polled_at = time.monotonic()
            ready = self._socket.poll(wait_ms, zmq.POLLIN)
            self.waited_s += time.monotonic() - polled_at
            if not ready:
                continue
            received = self._drain_newest()
            newest = self._attached(received)
            if received is not None and newest is None:
                self._requested_at = None  # that credit is spent on an unusable frame: ask again at once
        self._requested_at = None  # not asked yet for the next frame
        if newest.ring is None:
            # Pixels over ZeroMQ: ask for the next frame now, so its transfer overlaps with processing this one
            # (double buffering; capture still sends only the newest frame it has when it answers). Through the
            # ring the hand-off is small, so the caller asks later (`ask()`, or the next call) and gets the frame
            # that is newest then: a frame period less latency.
            self._ask_if_needed()
        self._count_gap(newest.seq)
        return newest

    def ask(self) -> None:
        """Ask for the next frame now, unless already asked: the caller is nearly done with this one.

        Infer calls it (from `EarlyAsk`) near the end of its model's run, so the round trip to capture overlaps
        the rest of the work and the next frame is taken a few milliseconds, not a whole frame, before it is used.
        Not thread-safe by itself: the caller makes sure no other thread uses the client meanwhile.
        """
        self._ask_if_needed()

    def _ask_if_needed(self) -> None:
        now = time.monotonic()
        if self._requested_at is not None and now - self._requested_at < REQUEST_RETRY_S:
            return
        try:
            self._socket.send_multipart(encode(FrameRequest()), flags=zmq.NOBLOCK)
            self._requested_at = now
        except zmq.Again:  # capture not connected yet; ask again on the next round
            self._requested_at = None

    def _drain_newest(self) -> Frame | None:
        """Read everything queued and keep only the newest frame (older ones are superseded)."""
        newest: Frame | None = None
        while self._socket.poll(0, zmq.POLLIN):
            message = self._reader.read(self._socket.recv_multipart(copy=False))
            if message is None:
                continue
            if not isinstance(message, Frame):
                self._reader.unexpected(message)
                continue
            if newest is not None:
                self._counters.inc("frames.superseded")
            newest = message
        return newest

    def _attached(self, frame: Frame | None) -> Frame | None:
        """A ring frame with its slot mapped; None (counted, logged once per kind) if it cannot be read."""
        if frame is None or frame.ring is None:
            return frame
        if self._ring is None:
            self._ring_problems.report("no_ring", f"dropped ring frame {frame.seq}: capture sends frames through "
                                                  "the shared-memory ring but infer has no SMARTCAM_FRAME_RING_FILE")
            return None
        try:
            return self._ring.attach(frame)
        except RingError as error:
            if error.kind == "stale":
                self._counters.inc("frames.overwritten")  # a drop: newer frames replaced it in the ring
                return None
            self._ring_problems.report(error.kind, f"dropped ring frame {frame.seq}: {error}")
            return None

    def _count_gap(self, seq: int) -> None:
        if self._last_seq is not None and seq > self._last_seq + 1:
            self._counters.inc("frames.skipped", seq - self._last_seq - 1)
        self._last_seq = seq

    def close(self) -> None:
        self._socket.close(linger=0)
