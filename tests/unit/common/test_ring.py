"""The shared-memory frame ring with real mmap'd files: overwrites are detected, bad ring files refused."""

from __future__ import annotations

import logging
import mmap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zmq

from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameClient, LatestFrameServer
from smartcam.common.ring import GENERATIONS_OFFSET, HEADER_BYTES, SLOT_COUNT, RingError, RingReader, RingWriter
from smartcam.common.wire import Frame, ImagePart, RingSlot, WireError, decode, encode


def frame(seq: int, side: int = 8) -> Frame:
    pixels = np.full((side, side, 3), seq % 256, dtype=np.uint8)
    lores = np.full((side // 2, side // 2), (seq + 100) % 256, dtype=np.uint8)
    return Frame("cam", seq, datetime.now(UTC), None,
                 [ImagePart("main", "RGB24", pixels.shape), ImagePart("lores", "GRAY8", lores.shape)], [pixels, lores])


def overwrite_slot(path: Path, index: int, value: int) -> None:
    """Write a slot as a second writer would (generation odd, pixels, generation even), from outside capture."""
    with path.open("r+b") as handle, mmap.mmap(handle.fileno(), 0) as ring:
        slot_bytes = int.from_bytes(ring[24:32], "little")
        where = GENERATIONS_OFFSET + 8 * index
        generation = int.from_bytes(ring[where:where + 8], "little")
        ring[where:where + 8] = (generation + 1).to_bytes(8, "little")
        start = HEADER_BYTES + index * slot_bytes
        ring[start:start + 16] = bytes([value]) * 16
        ring[where:where + 8] = (generation + 2).to_bytes(8, "little")


@pytest.fixture
def ring_file(tmp_path: Path) -> Path:
    return tmp_path / "frames.ring"


def test_a_frame_round_trips_through_the_ring_and_the_wire_without_pixels(ring_file, logger):
    writer = RingWriter(ring_file, logger)
    sent = writer.put(frame(5))
    parts = encode(sent)
    assert len(parts) == 1  # the header only: the pixels stay in shared memory
    received = RingReader(ring_file).attach(decode([bytes(parts[0])]))
    assert received.ring == RingSlot(writer.ring_id, 0, 2)
    np.testing.assert_array_equal(received.image("main"), frame(5).buffers[0])
    np.testing.assert_array_equal(received.image("lores"), frame(5).buffers[1])
    assert not received.image("main").flags.writeable  # infer maps the ring read-only
    assert received.intact()
    writer.close()


def test_a_slot_overwritten_while_it_is_read_is_detected(ring_file, logger):
    writer = RingWriter(ring_file, logger)
    received = RingReader(ring_file).attach(writer.put(frame(7)))
    copied = received.image("main").copy()  # the reader uses the pixels ...
    overwrite_slot(ring_file, received.ring.index, 99)  # ... while another frame lands in the slot
    assert not received.intact()  # ... so the check afterwards drops it instead of trusting a torn image
    assert copied[0, 0, 0] == 7
    assert received.image("main")[0, 0, 0] == 99  # (the view indeed saw the new pixels)


def test_the_writer_keeps_the_slots_it_delivered_last_and_cycles_through_the_rest(ring_file, logger):
    writer = RingWriter(ring_file, logger)
    reader = RingReader(ring_file)
    delivered = [reader.attach(writer.put(frame(0))), reader.attach(writer.put(frame(1)))]
    for sent in delivered:
        writer.pin(sent.ring)
    slots = [writer.put(frame(seq)).ring.index for seq in range(2, 10)]
    assert set(slots) == set(range(SLOT_COUNT)) - {d.ring.index for d in delivered}
    assert all(d.intact() for d in delivered)
    assert [d.image("main")[0, 0, 0] for d in delivered] == [0, 1]
    unpinned = reader.attach(writer.put(frame(10)))
    for seq in range(11, 11 + SLOT_COUNT):
        writer.put(frame(seq))
    assert not unpinned.intact()  # not delivered, so not protected: the generation shows the overwrite


def test_a_frame_whose_slot_was_overwritten_before_it_was_read_is_dropped_and_counted(
        zmq_context, counters, logger, free_port, ring_file):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    server = LatestFrameServer(zmq_context, endpoint, counters, logger, ring=RingWriter(ring_file, logger))
    client_counters = Counters()
    client = LatestFrameClient(zmq_context, endpoint, client_counters, logger, ring_file=ring_file)
    assert client.next_frame(0.05) is None  # asks for a frame
    server.serve(0.5)  # capture receives the request
    server.offer(frame(1))  # sent at once, to the waiting client ...
    overwrite_slot(ring_file, 0, 200)  # ... and overwritten before the client reads it
    assert client.next_frame(0.3) is None
    assert client_counters.get("frames.overwritten") == 1
    server.offer(frame(2))  # the client asked again at once: the next frame arrives
    got = None
    deadline = time.monotonic() + 5
    while got is None and time.monotonic() < deadline:
        server.serve(0.02)
        got = client.next_frame(0.02)
    assert got is not None
    assert got.seq == 2
    assert got.image("main")[0, 0, 0] == 2
    assert client_counters.get("frames.overwritten") == 1
    client.close()
    server.close()


def test_a_larger_frame_makes_a_new_ring_and_the_reader_follows(ring_file, logger):
    writer = RingWriter(ring_file, logger)
    reader = RingReader(ring_file)
    small = reader.attach(writer.put(frame(1, side=8)))
    first_ring = writer.ring_id
    large = reader.attach(writer.put(frame(2, side=128)))  # 48 KiB: more than a 4 KiB slot
    assert writer.ring_id != first_ring
    assert large.image("main").shape == (128, 128, 3)
    assert large.image("main")[127, 127, 2] == 2
    assert small.intact()  # the old ring's file stays mapped (and unchanged) for frames still in use
    assert small.image("main")[0, 0, 0] == 1


@pytest.mark.parametrize(("damage", "kind", "says"), [
    (lambda path: path.write_bytes(b"not a ring at all" * 300), "foreign", "not a smartcam frame ring"),
    (lambda path: path.write_bytes(path.read_bytes()[:HEADER_BYTES + 100]), "short", "but its header describes"),
    (lambda path: path.write_bytes(path.read_bytes()[:40]), "short", "shorter than its 4096-byte header"),
    (lambda path: path.write_bytes(path.read_bytes()[:16] + (9).to_bytes(4, "little") + path.read_bytes()[20:]),
     "version", "layout version 9"),
    (lambda path: path.unlink(), "missing", "mount the frames volume in infer"),
])
def test_a_corrupted_or_short_ring_file_is_refused_with_a_clear_message(ring_file, logger, damage, kind, says):
    sent = RingWriter(ring_file, logger).put(frame(3))
    damage(ring_file)
    with pytest.raises(RingError) as refused:
        RingReader(ring_file).attach(sent)
    assert refused.value.kind == kind
    assert says in str(refused.value)
    assert str(ring_file) in str(refused.value)


def test_infer_counts_and_logs_a_bad_ring_once_and_keeps_serving(zmq_context, counters, free_port, ring_file,
                                                                caplog):
    logger = logging.getLogger("smartcam.test.ring")
    endpoint = f"tcp://127.0.0.1:{free_port}"
    ring = RingWriter(ring_file, logger, frame_bytes=4096)  # created at once, as capture does
    server = LatestFrameServer(zmq_context, endpoint, counters, logger, ring=ring)
    client_counters = Counters()
    client = LatestFrameClient(zmq_context, endpoint, client_counters, logger, ring_file=ring_file)

    def next_frame(until: str | None = None, count: int = 0) -> Frame | None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (until is None or client_counters.get(until) < count):
            server.serve(0.02)
            if (got := client.next_frame(0.02)) is not None:
                return got
        return None

    with caplog.at_level(logging.WARNING):
        for seq in range(3):
            server.offer(frame(seq))
            scribble = ring_file.with_name("scribble")
            scribble.write_bytes(b"x" * 10_000)
            scribble.replace(ring_file)  # something else puts a file of its own in the ring's place
            assert ring.ring_id  # capture keeps writing its own ring, unaware
            assert next_frame("frames.ring.foreign", seq + 1) is None
    assert client_counters.get("frames.ring.foreign") == 3
    assert sum("not a smartcam frame ring" in r.message for r in caplog.records) == 1
    restarted = RingWriter(ring_file, logger)  # capture restarts and creates the ring anew
    server._ring = restarted
    server.offer(frame(9))
    got = next_frame()
    assert got is not None
    assert got.image("main")[0, 0, 0] == 9
    client.close()
    server.close()


def test_malformed_ring_messages_are_rejected(ring_file, logger):
    sent = RingWriter(ring_file, logger).put(frame(4))
    header = bytes(encode(sent)[0])
    with pytest.raises(WireError) as with_payload:
        decode([header, b"\0" * 192])
    assert with_payload.value.kind == "payload_count"
    with pytest.raises(WireError) as negative:
        decode([header.replace(b'"slot":0', b'"slot":-1')])
    assert negative.value.kind == "bad_field"
    beyond = decode([header.replace(b'"slot":0', b'"slot":77')])
    with pytest.raises(RingError, match="names slot 77, the ring has 4") as refused:
        RingReader(ring_file).attach(beyond)
    assert refused.value.kind == "bad_slot"
    too_big = decode([header.replace(b'"shape":[8,8,3]', b'"shape":[4000,4000,3]')])
    with pytest.raises(RingError, match="a ring slot holds") as oversized:
        RingReader(ring_file).attach(too_big)
    assert oversized.value.kind == "bad_slot"
    with pytest.raises(ValueError, match=r"needs RingReader\.attach"):
        beyond.image()


def test_capture_without_the_ring_volume_says_how_to_fix_it(tmp_path, logger):
    with pytest.raises(RingError, match="SMARTCAM_FRAME_TRANSPORT=tcp") as refused:
        RingWriter(tmp_path / "absent" / "frames.ring", logger)
    assert refused.value.kind == "no_volume"


def test_a_zmq_socket_carries_a_ring_frame_as_one_small_part(zmq_context, ring_file, logger, free_port):
    """What goes over ZeroMQ for a 1280x720 frame: a header of a few hundred bytes."""
    big = np.zeros((720, 1280, 3), np.uint8)
    sent = RingWriter(ring_file, logger).put(
        Frame("cam", 1, datetime.now(UTC), None, [ImagePart("main", "RGB24", big.shape)], [big]))
    pull = zmq_context.socket(zmq.PULL)
    pull.bind(f"tcp://127.0.0.1:{free_port}")
    push = zmq_context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{free_port}")
    push.send_multipart(encode(sent))
    assert pull.poll(5000)
    parts = pull.recv_multipart()
    assert len(parts) == 1
    assert len(parts[0]) < 512
    push.close(0)
    pull.close(0)
