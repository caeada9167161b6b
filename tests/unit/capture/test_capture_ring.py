"""Capture's loop with the shared-memory ring: real photos, a real ring file, a real ZeroMQ consumer."""

from __future__ import annotations

import logging
import threading

import pytest
import zmq

from smartcam.capture.main import body
from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameClient
from smartcam.common.health import HealthReporter
from smartcam.common.service import FatalError, ServiceContext
from smartcam.common.wire import Frame, decode

from .conftest import PHOTOS, as_infer

LOGGER = logging.getLogger("smartcam.test")


def _context(settings, tmp_path) -> ServiceContext:
    counters = Counters()
    return ServiceContext(settings, LOGGER, HealthReporter(tmp_path / "health.json", "capture", counters), counters,
                          threading.Event())


def test_capture_serves_every_photo_through_one_ring_sized_from_the_settings(make_settings, tmp_path, free_port,
                                                                              zmq_context):
    ring_file = tmp_path / "frames" / "frames.ring"
    ring_file.parent.mkdir()
    settings = make_settings(source=f"replay:{PHOTOS}", fps=50, frame_width=640, frame_height=360, lores_width=160,
                             lores_height=90, frames_endpoint=f"tcp://127.0.0.1:{free_port}",
                             frame_ring_file=ring_file)
    ctx = _context(settings, tmp_path)
    loop = threading.Thread(target=body, args=(ctx,), daemon=True)
    loop.start()
    client = LatestFrameClient(zmq_context, f"tcp://127.0.0.1:{free_port}", Counters(), LOGGER, ring_file=ring_file,
                               curve=as_infer(settings.pipeline_keys_dir))
    try:
        frames = []
        while len(frames) < 6:  # more than the 5 photos: every size the replay has
            got = client.next_frame(10.0)
            assert got is not None, "capture sent no frame through the ring"
            frames.append(got)
    finally:
        ctx.stop.set()
        loop.join(10)
        client.close()
    assert all(f.ring is not None for f in frames)
    assert len({f.ring.ring_id for f in frames}) == 1  # sized at start for the largest frame: never re-created
    assert len({f.image("main").shape for f in frames}) > 1  # (the photos do differ in size)
    assert all(f.image("lores").shape[1] <= 160 for f in frames)
    slot = -(-(640 * 360 + 160 * 90) * 3 // 4096) * 4096  # main + lores RGB, rounded up to whole pages
    assert ring_file.stat().st_size == 4096 + 4 * slot


def test_capture_without_its_ring_volume_stops_naming_the_fix(make_settings, tmp_path, free_port):
    settings = make_settings(source=f"replay:{PHOTOS}", frames_endpoint=f"tcp://127.0.0.1:{free_port}",
                             frame_ring_file=tmp_path / "absent" / "frames.ring")
    with pytest.raises(FatalError, match="mount the frames volume there read-write"):
        body(_context(settings, tmp_path))


def test_capture_with_tcp_transport_sends_pixels_over_zeromq(make_settings, tmp_path, free_port, zmq_context):
    settings = make_settings(source=f"replay:{PHOTOS}", fps=50, frame_transport="tcp",
                             frames_endpoint=f"tcp://127.0.0.1:{free_port}",
                             frame_ring_file=tmp_path / "absent" / "frames.ring")
    ctx = _context(settings, tmp_path)
    loop = threading.Thread(target=body, args=(ctx,), daemon=True)
    loop.start()
    socket = zmq_context.socket(zmq.DEALER)
    as_infer(settings.pipeline_keys_dir).apply(socket)
    socket.connect(f"tcp://127.0.0.1:{free_port}")
    try:
        socket.send(b'{"smartcam": 1, "type": "frame_request"}')
        assert socket.poll(10_000)
        parts = socket.recv_multipart()
    finally:
        ctx.stop.set()
        loop.join(10)
        socket.close(0)
    frame = decode(parts)  # checks the pixel part against the described shape
    assert isinstance(frame, Frame)
    assert frame.ring is None
    assert len(parts) == 2
    assert frame.image().shape[0] == 720 or frame.image().shape[1] == 1280
