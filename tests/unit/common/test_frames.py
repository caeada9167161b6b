"""Latest-frame channel over real ZeroMQ TCP sockets on loopback, pixels over ZeroMQ or in a real ring file."""

import logging
import time
from datetime import UTC, datetime

import numpy as np
import pytest
import zmq

from smartcam.common.frames import LatestFrameClient, LatestFrameServer
from smartcam.common.ring import RingWriter
from smartcam.common.wire import Frame, ImagePart


@pytest.fixture(params=["tcp", "ring"])
def transport(request, tmp_path, logger):
    """Makes servers and clients for one transport; ring servers (re)create the ring file, as capture does."""
    ring_file = tmp_path / "frames.ring"

    class Transport:
        name = request.param

        def server(self, context, endpoint, counters, logger):
            ring = RingWriter(ring_file, logger) if self.name == "ring" else None
            return LatestFrameServer(context, endpoint, counters, logger, ring=ring)

        def client(self, context, endpoint, counters, logger):
            return LatestFrameClient(context, endpoint, counters, logger,
                                     ring_file=ring_file if self.name == "ring" else None)

    return Transport()


def frame(seq):
    pixels = np.full((8, 8, 3), seq % 256, dtype=np.uint8)
    return Frame("cam", seq, datetime.now(UTC), None, [ImagePart("main", "RGB24", (8, 8, 3))], [pixels])


def serve_until(server, client, timeout_s=3.0):
    """Let the server answer while the client waits (single thread: interleave short polls)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server.serve(0.02)
        got = client.next_frame(0.02)
        if got is not None:
            return got
    return None


def test_consumer_gets_the_newest_frame_and_drops_are_counted(zmq_context, counters, logger, free_port, transport):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = transport.server(zmq_context, endpoint, counters, logger)
    client_counters = type(counters)()
    client = transport.client(zmq_context, endpoint, client_counters, logger)
    server.offer(frame(0))
    first = serve_until(server, client)
    assert first is not None
    assert first.seq == 0
    # The consumer is busy while five more frames are captured: only the newest survives.
    for seq in range(1, 6):
        server.offer(frame(seq))
    newest = serve_until(server, client)
    assert newest.seq == 5
    assert int(newest.image()[0, 0, 0]) == 5
    assert counters.get("frames.dropped") == 4  # frames 1..4 were replaced before anyone got them
    assert counters.get("frames.captured") == 6
    assert counters.get("frames.sent") == 2
    assert client_counters.get("frames.skipped") == 4
    assert first.image()[0, 0, 0] == 0  # the first frame's slot was kept while newer frames were written
    assert first.intact()
    # Nothing new captured: the consumer waits rather than getting frame 5 twice.
    server.serve(0.05)
    assert client.next_frame(0.1) is None
    server.offer(frame(6))
    assert serve_until(server, client).seq == 6
    client.close()
    server.close()


def test_server_survives_malformed_requests_and_logs_once_per_kind(zmq_context, counters, free_port, caplog,
                                                                   transport):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    logger = logging.getLogger("smartcam.test.frames")
    server = transport.server(zmq_context, endpoint, counters, logger)
    intruder = zmq_context.socket(zmq.DEALER)
    intruder.connect(endpoint)
    for _ in range(3):
        intruder.send_multipart([b"GET / HTTP/1.0"])
    intruder.send_multipart([b'{"smartcam": 1, "type": "nonsense"}'])
    with caplog.at_level(logging.WARNING):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and counters.get("rejected.unknown_type") == 0:
            server.serve(0.05)
    assert counters.get("rejected.foreign") == 3
    assert counters.get("rejected.unknown_type") == 1
    assert sum("rejected.foreign" in r.message for r in caplog.records) == 1
    # And it still serves real consumers afterwards.
    client = transport.client(zmq_context, endpoint, counters, logger)
    server.offer(frame(1))
    assert serve_until(server, client).seq == 1
    intruder.close(0)
    client.close()
    server.close()


def test_client_asks_again_after_capture_restarts(zmq_context, counters, logger, free_port, monkeypatch, transport):
    monkeypatch.setattr("smartcam.common.frames.REQUEST_RETRY_S", 0.2)
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = transport.server(zmq_context, endpoint, counters, logger)
    client = transport.client(zmq_context, endpoint, counters, logger)
    server.offer(frame(41))
    before = serve_until(server, client)
    assert before.seq == 41
    server.serve(0.3)  # receives the client's next request, nothing to send yet
    assert client.next_frame(0.1) is None
    server.close()  # capture restarts: the pending request is lost with it (and a ring is created anew)
    time.sleep(0.2)  # ZeroMQ releases the port asynchronously
    restarted = transport.server(zmq_context, endpoint, counters, logger)
    restarted.offer(frame(42))
    got = serve_until(restarted, client, timeout_s=5)
    assert got is not None
    assert got.seq == 42
    assert got.image()[0, 0, 0] == 42
    assert before.image()[0, 0, 0] == 41  # a frame from before the restart keeps its pixels (the old ring's)
    assert not counters.get("frames.overwritten")
    client.close()
    restarted.close()


def test_infer_restart_gets_the_newest_frame(zmq_context, counters, logger, free_port, transport):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = transport.server(zmq_context, endpoint, counters, logger)
    client = transport.client(zmq_context, endpoint, counters, logger)
    server.offer(frame(1))
    assert serve_until(server, client).seq == 1
    client.close()  # infer restarts
    for seq in range(2, 9):
        server.offer(frame(seq))
    again = transport.client(zmq_context, endpoint, type(counters)(), logger)
    got = serve_until(server, again)
    assert got.seq == 8
    assert got.image()[0, 0, 0] == 8
    again.close()
    server.close()


def test_the_client_asks_ahead_over_tcp_and_when_ready_through_the_ring(zmq_context, counters, logger, free_port,
                                                                         transport):
    """Over TCP the next frame's transfer overlaps the work on this one; through the ring (a hand-off of a fraction
    of a millisecond) the client asks only when it is ready, and so gets the frame that is newest then."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = transport.server(zmq_context, endpoint, counters, logger)
    client = transport.client(zmq_context, endpoint, type(counters)(), logger)
    server.offer(frame(0))
    assert serve_until(server, client).seq == 0
    server.serve(0.5, until_awaited=True)  # while the consumer works on frame 0
    assert server.awaited is (transport.name == "tcp")
    server.offer(frame(1))  # the camera goes on meanwhile
    server.offer(frame(2))
    got = serve_until(server, client)
    if transport.name == "tcp":
        assert got.seq == 1  # sent the moment it was offered, to the request made in advance
        assert counters.get("frames.dropped") == 0
    else:
        assert got.seq == 2  # asked for now: the newest; frame 1 was never written to the ring
        assert counters.get("frames.dropped") == 1
    client.close()
    server.close()


def test_ask_requests_the_next_ring_frame_before_the_caller_is_done(zmq_context, counters, logger, free_port,
                                                                     tmp_path):
    ring_file = tmp_path / "frames.ring"
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger, ring=RingWriter(ring_file, logger))
    client = LatestFrameClient(zmq_context, endpoint, type(counters)(), logger, ring_file=ring_file)
    server.offer(frame(0))
    assert serve_until(server, client).seq == 0
    server.serve(0.2, until_awaited=True)
    assert not server.awaited  # through the ring nothing is asked for in advance ...
    client.ask()  # ... until the caller is nearly done (infer: its detector has run)
    server.serve(2.0, until_awaited=True)
    assert server.awaited
    client.ask()  # asked already: no second request
    server.offer(frame(1))  # goes at once to the request made by ask()
    server.serve(0.3, until_awaited=True)
    assert not server.awaited
    assert client.next_frame(2.0).seq == 1
    assert counters.get("frames.sent") == 2
    client.close()
    server.close()


def test_the_client_tells_how_long_it_waited_for_a_frame(zmq_context, counters, logger, free_port, transport):
    """Infer times its early ask by this: a frame already there is no wait, a frame still on its way is."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = transport.server(zmq_context, endpoint, counters, logger)
    client = transport.client(zmq_context, endpoint, type(counters)(), logger)
    assert client.next_frame(0.3) is None  # asks; nothing comes
    assert client.waited_s >= 0.25
    server.serve(1.0, until_awaited=True)
    server.offer(frame(1))  # goes to the waiting client ...
    time.sleep(0.2)  # ... and is in its queue before it looks
    got = client.next_frame(2.0)
    assert got.seq == 1
    assert client.waited_s < 0.1
    client.close()
    server.close()
