"""The capture service loop: read the next frame, stamp time and location, offer it to infer."""

from __future__ import annotations

import zmq

from smartcam.capture.location import open_location
from smartcam.capture.settings import CaptureSettings
from smartcam.capture.sources import open_source
from smartcam.common.frames import LatestFrameServer
from smartcam.common.ring import RingError, RingWriter
from smartcam.common.service import FatalError, ServiceContext, run_service
from smartcam.common.wire import PIXEL_FORMATS, Frame


def body(ctx: ServiceContext[CaptureSettings]) -> None:
    settings = ctx.settings
    source = open_source(settings, counters=ctx.counters, stop=ctx.stop)
    location = open_location(settings, ctx.counters)
    ring = _open_ring(ctx)
    context = zmq.Context()
    server = LatestFrameServer(context, settings.frames_endpoint, ctx.counters, ctx.logger, ring=ring)
    ctx.logger.info("capturing from %s at %.2f fps; serving frames on %s (%s)", settings.source, settings.fps,
                    settings.frames_endpoint,
                    "pixels over ZeroMQ" if ring is None else f"pixels in the ring {ring.path}")
    seq = 0
    try:
        while not ctx.stop.is_set():
            images = source.read()
            if ctx.stop.is_set():
                break
            try:
                server.offer(Frame(settings.camera_id, seq, images.captured_at, location.current(),
                                   images.image_parts(), images.buffers()))
                seq += 1
                server.serve(0)  # answer requests that arrived while the source was waiting for the frame
            except RingError as error:  # e.g. a larger frame no longer fits the frames volume
                raise FatalError(str(error)) from error
            ctx.health.working(seq=seq)
    finally:
        server.close()
        source.close()
        location.close()
        context.term()


def _open_ring(ctx: ServiceContext[CaptureSettings]) -> RingWriter | None:
    """The ring writer for SMARTCAM_FRAME_TRANSPORT=ring (None for tcp); a missing volume is fatal, with the fix."""
    if ctx.settings.frame_transport != "ring":
        return None
    settings = ctx.settings
    sizes = [size for size in (settings.frame_size, settings.lores_size) if size is not None]
    # Frames fit within these sizes (replay) or are about them (a camera; alignment may grow the ring once).
    frame_bytes = sum(w * h for w, h in sizes) * PIXEL_FORMATS[settings.pixel_format] if settings.frame_size else 0
    try:
        return RingWriter(settings.frame_ring_file, ctx.logger, frame_bytes=frame_bytes)
    except RingError as error:
        raise FatalError(str(error)) from error


def main() -> int:
    return run_service("capture", CaptureSettings, body)
