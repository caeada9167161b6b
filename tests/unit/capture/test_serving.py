"""Capture answers frame requests while it waits for its next frame, over real ZeroMQ sockets.

The replay runs far slower than the test lasts (one frame a minute), so anything a consumer receives
was served during the wait for the second frame, never at its tick.
"""

import logging
import threading
import time

import pytest
import zmq

from smartcam.capture.main import body
from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameClient
from smartcam.common.health import HealthReporter
from smartcam.common.service import ServiceContext

from .conftest import PHOTOS, as_infer, wait_for

SLOW_FPS = 1 / 60  # the second frame is due a minute after the first


@pytest.fixture
def start_capture(make_settings, free_port, tmp_path):
    """Starts the capture service body in a thread, replaying the photos; returns (endpoint, counters, ring file,
    keys folder)."""
    threads, stops = [], []

    def start(**variables):
        endpoint = f"tcp://127.0.0.1:{free_port}"
        settings = make_settings(source=f"replay:{PHOTOS}", frame_width=320, frame_height=240,
                                 frames_endpoint=endpoint, camera_id="cam-serve",
                                 frame_ring_file=tmp_path / "frames.ring", **variables)  # the default: the ring
        counters, stop = Counters(), threading.Event()
        ctx = ServiceContext(settings, logging.getLogger("smartcam.test.capture"),
                             HealthReporter(tmp_path / "health.json", "capture", counters), counters, stop)
        thread = threading.Thread(target=body, args=(ctx,), daemon=True)
        thread.start()
        threads.append(thread)
        stops.append(stop)
        return endpoint, counters, settings.frame_ring_file, settings.pipeline_keys_dir

    yield start
    for stop in stops:
        stop.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "capture did not stop while waiting for its next frame"


@pytest.fixture
def capture(start_capture):
    """Capture replaying one frame a minute."""
    return start_capture(fps=SLOW_FPS)


def test_a_consumer_asking_while_capture_waits_gets_the_held_frame_at_once(capture, zmq_context):
    endpoint, counters, ring_file, keys_dir = capture
    logger = logging.getLogger("smartcam.test.serve")
    first = LatestFrameClient(zmq_context, endpoint, Counters(), logger, ring_file=ring_file,
                              curve=as_infer(keys_dir))
    got = first.next_frame(10)
    assert got is not None
    assert (got.seq, got.camera_id, got.image().shape[2]) == (0, "cam-serve", 3)
    # A second consumer (say, infer restarted) asks while capture waits a minute for frame 1: it is served
    # frame 0, the newest there is, during the wait.
    second = LatestFrameClient(zmq_context, endpoint, Counters(), logger, ring_file=ring_file,
                              curve=as_infer(keys_dir))
    late = second.next_frame(30)
    assert late is not None
    assert late.seq == 0
    assert counters.get("frames.captured") == 1  # no second frame was read: served from the wait
    assert counters.get("frames.sent") == 2
    # The first consumer already has frame 0: its standing request waits for frame 1 rather than a repeat.
    assert first.next_frame(0.3) is None
    first.close()
    second.close()


def test_requests_and_malformed_messages_during_the_wait_are_handled_then(capture, zmq_context):
    endpoint, counters, ring_file, keys_dir = capture
    wait_for(lambda: counters.get("frames.captured") == 1)
    junk = zmq_context.socket(zmq.DEALER)  # an admitted peer sending junk: message handling, not the handshake
    as_infer(keys_dir).apply(junk)
    junk.connect(endpoint)
    junk.send_multipart([b"not a smartcam header"])
    consumer = LatestFrameClient(zmq_context, endpoint, Counters(), logging.getLogger("smartcam.test.serve"),
                                 ring_file=ring_file, curve=as_infer(keys_dir))
    got = consumer.next_frame(30)
    assert got is not None
    assert got.seq == 0
    assert counters.get("rejected.foreign") == 1  # counted while capture waited, not at its next tick
    junk.close(linger=0)
    consumer.close()


@pytest.mark.parametrize("on_demand", [True, False])
def test_replay_on_demand_makes_a_frame_only_when_one_is_asked_for(start_capture, zmq_context, on_demand):
    endpoint, counters, ring_file, keys_dir = start_capture(fps=1000, replay_on_demand=on_demand)
    consumer = LatestFrameClient(zmq_context, endpoint, Counters(), logging.getLogger("smartcam.test.serve"),
                                 ring_file=ring_file, curve=as_infer(keys_dir))
    time.sleep(0.5)  # nobody asks yet
    captured_unasked = counters.get("frames.captured")
    seqs = []
    for _ in range(5):  # a consumer slower than the replay rate
        got = consumer.next_frame(10)
        assert got is not None
        seqs.append(got.seq)
        time.sleep(0.05)
    consumer.close()
    if on_demand:
        assert captured_unasked == 0
        assert seqs == [0, 1, 2, 3, 4]  # every photo in turn, none dropped
        assert counters.get("frames.captured") == 5
        assert counters.get("frames.dropped") == 0
    else:  # the control: a camera-like replay runs at its rate and drops what nobody takes
        assert captured_unasked > 50
        assert seqs[-1] - seqs[0] > 4
        assert counters.get("frames.dropped") > 50
