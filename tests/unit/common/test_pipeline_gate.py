"""CURVE on real ZeroMQ sockets: only the device's own services get frames and have events stored."""

import logging
import time
from datetime import UTC, datetime

import pytest
import zmq

from smartcam.common.counters import Counters
from smartcam.common.events import EventReceiver, EventSender
from smartcam.common.frames import LatestFrameClient, LatestFrameServer
from smartcam.common.pipeline_gate import Gate
from smartcam.common.pipeline_keys import CurveClient, KeyPair, own_keys
from smartcam.common.wire import Ack, Event, Frame, ImagePart, ModelRef

FRAME = Frame("cam", 1, datetime.now(UTC), None, [ImagePart("main", "GRAY8", (2, 2))], [b"\x01\x02\x03\x04"])


def event(event_id):
    return Event(event_id, "cam", 1, datetime.now(UTC), None, [], ModelRef("m", "0" * 64), False, b"jpeg")


def stranger():
    """A CURVE key pair of nobody on this device."""
    return KeyPair(*zmq.curve_keypair())


@pytest.fixture
def keys_dir(tmp_path):
    return tmp_path / "pipeline-keys"


@pytest.fixture
def gate(zmq_context, keys_dir, counters):
    gate = Gate(zmq_context, keys_dir, logging.getLogger("smartcam.test.gate"), counters)
    yield gate
    gate.close()


@pytest.fixture
def capture(zmq_context, gate, keys_dir, counters, logger, free_port):
    """Capture's frame server as the service sets it up, holding one frame."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger,
                               curve=gate.server("capture", own_keys(keys_dir, "capture"), clients=["infer"]))
    server.offer(FRAME)
    yield server, endpoint
    server.close()


def frame_within(server, client, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server.serve(0.02)
        if (got := client.next_frame(0.02)) is not None:
            return got
    return None


def serve_until(server, condition, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition():
        server.serve(0.02)
    return condition()


def test_infer_with_its_published_key_gets_frames(capture, keys_dir, zmq_context, logger):
    server, endpoint = capture
    infer = CurveClient(own_keys(keys_dir, "infer"), own_keys(keys_dir, "capture").public)
    client = LatestFrameClient(zmq_context, endpoint, Counters(), logger, curve=infer)
    got = frame_within(server, client, 5.0)
    client.close()
    assert got is not None
    assert got.buffers[0].tobytes() == b"\x01\x02\x03\x04"


@pytest.mark.parametrize("peer", ["no CURVE", "a key of its own", "another server key"])
def test_a_peer_without_the_device_keys_gets_no_frame_and_is_counted(capture, keys_dir, zmq_context, logger,
                                                                      counters, peer, caplog):
    server, endpoint = capture
    own_keys(keys_dir, "infer")  # infer exists on this device; the peer is not infer
    curve = {"no CURVE": None,
             "a key of its own": CurveClient(stranger(), own_keys(keys_dir, "capture").public),
             "another server key": CurveClient(stranger(), stranger().public)}[peer]
    kind = "unknown_key" if peer == "a key of its own" else "handshake"
    caplog.set_level(logging.WARNING, "smartcam.test.gate")
    client = LatestFrameClient(zmq_context, endpoint, Counters(), logger, curve=curve)
    try:
        assert serve_until(server, lambda: counters.get(f"pipeline.refused.{kind}") >= 1)
        assert frame_within(server, client, 1.0) is None
    finally:
        client.close()
    assert counters.get("frames.sent") == 0
    refusals = [r.getMessage() for r in caplog.records if "refused a peer" in r.getMessage()]
    assert len(set(refusals)) == 1  # the first of its kind is logged, the rest only counted
    assert "capture" in refusals[0]


def test_infer_started_after_capture_is_admitted_by_the_key_it_publishes(capture, keys_dir, zmq_context, logger,
                                                                         counters):
    """Capture reads infer's key at each handshake, so a key made after capture started gets through."""
    server, endpoint = capture
    assert not (keys_dir / "infer.key").exists()
    infer = CurveClient(own_keys(keys_dir, "infer"), own_keys(keys_dir, "capture").public)
    client = LatestFrameClient(zmq_context, endpoint, Counters(), logger, curve=infer)
    assert frame_within(server, client, 5.0) is not None
    client.close()
    assert counters.get("pipeline.refused.unknown_key") == 0


def receive_stored(receiver, timeout_s):
    """What the uploader would store: each received event, acknowledged."""
    stored = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        received = receiver.receive(0.02)
        if received is not None:
            stored.append(received.event.event_id)
            receiver.ack(received.peer, Ack(received.event.event_id, True))
    return stored


def test_only_infers_events_reach_the_uploader(zmq_context, gate, keys_dir, counters, logger, free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    uploader_keys = own_keys(keys_dir, "uploader")
    receiver = EventReceiver(zmq_context, endpoint, counters, logger,
                             curve=gate.server("uploader", uploader_keys, clients=["infer"]))
    peers = {"plain": None, "stranger": CurveClient(stranger(), uploader_keys.public),
             "infer": CurveClient(own_keys(keys_dir, "infer"), uploader_keys.public)}
    senders = {name: EventSender(zmq_context, endpoint, Counters(), logger, max_unacked=10, ack_timeout_s=5,
                                 curve=curve) for name, curve in peers.items()}
    try:
        for name, sender in senders.items():
            sender.send(event(f"evt-{name}"))
        stored = []

        def run(until, timeout_s):
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not until():
                for sender in senders.values():
                    sender.poll(0)
                stored.extend(receive_stored(receiver, 0.02))

        run(lambda: "evt-infer" in stored and counters.get("pipeline.refused.handshake")
            and counters.get("pipeline.refused.unknown_key"), 10)
        run(lambda: False, 0.5)  # the others keep trying meanwhile
        assert stored == ["evt-infer"]
        assert counters.get("pipeline.refused.handshake") >= 1  # the plain peer
        assert counters.get("pipeline.refused.unknown_key") >= 1  # the stranger
        assert senders["infer"].unacked == 0
        assert senders["plain"].unacked == senders["stranger"].unacked == 1  # never acknowledged
    finally:
        for sender in senders.values():
            sender.close()
        receiver.close()
