"""Latest-frame channel over real ZeroMQ TCP sockets on loopback."""

import logging
import time
from datetime import UTC, datetime

import numpy as np
import zmq

from smartcam.common.frames import LatestFrameClient, LatestFrameServer
from smartcam.common.wire import Frame, ImagePart


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


def test_consumer_gets_the_newest_frame_and_drops_are_counted(zmq_context, counters, logger, free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger)
    client_counters = type(counters)()
    client = LatestFrameClient(zmq_context, endpoint, client_counters, logger)
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
    # Nothing new captured: the consumer waits rather than getting frame 5 twice.
    server.serve(0.05)
    assert client.next_frame(0.1) is None
    server.offer(frame(6))
    assert serve_until(server, client).seq == 6
    client.close()
    server.close()


def test_server_survives_malformed_requests_and_logs_once_per_kind(zmq_context, counters, free_port, caplog):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    logger = logging.getLogger("smartcam.test.frames")
    server = LatestFrameServer(zmq_context, endpoint, counters, logger)
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
    client = LatestFrameClient(zmq_context, endpoint, counters, logger)
    server.offer(frame(1))
    assert serve_until(server, client).seq == 1
    intruder.close(0)
    client.close()
    server.close()


def test_client_asks_again_after_capture_restarts(zmq_context, counters, logger, free_port, monkeypatch):
    monkeypatch.setattr("smartcam.common.frames.REQUEST_RETRY_S", 0.2)
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger)
    client = LatestFrameClient(zmq_context, endpoint, counters, logger)
    server.serve(0.3)  # receives the client's request, nothing to send yet
    assert client.next_frame(0.1) is None
    server.close()  # capture restarts: the pending request is lost with it
    time.sleep(0.2)  # ZeroMQ releases the port asynchronously
    restarted = LatestFrameServer(zmq_context, endpoint, counters, logger)
    restarted.offer(frame(42))
    got = serve_until(restarted, client, timeout_s=5)
    assert got is not None
    assert got.seq == 42
    client.close()
    restarted.close()
