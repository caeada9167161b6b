"""The capture service loop: read the next frame, stamp time and location, offer it to infer."""

from __future__ import annotations

import zmq

from smartcam.capture.location import open_location
from smartcam.capture.settings import CaptureSettings
from smartcam.capture.sources import open_source
from smartcam.common.frames import LatestFrameServer
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.wire import Frame


def body(ctx: ServiceContext[CaptureSettings]) -> None:
    settings = ctx.settings
    source = open_source(settings, counters=ctx.counters, stop=ctx.stop)
    location = open_location(settings, ctx.counters)
    context = zmq.Context()
    server = LatestFrameServer(context, settings.frames_endpoint, ctx.counters, ctx.logger)
    ctx.logger.info("capturing from %s at %.2f fps; serving frames on %s", settings.source, settings.fps,
                    settings.frames_endpoint)
    seq = 0
    try:
        while not ctx.stop.is_set():
            images = source.read()
            if ctx.stop.is_set():
                break
            server.offer(Frame(settings.camera_id, seq, images.captured_at, location.current(),
                               images.image_parts(), images.buffers()))
            seq += 1
            server.serve(0)  # answer requests that arrived while the source was waiting for the frame
            ctx.health.working(seq=seq)
    finally:
        server.close()
        source.close()
        location.close()
        context.term()


def main() -> int:
    return run_service("capture", CaptureSettings, body)
