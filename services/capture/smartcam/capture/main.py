"""The capture service loop: read the next frame, stamp time and location, offer it to infer.

While the next frame is not yet due (replay's pacing), capture answers frame requests instead of
sleeping, so a consumer that asks gets the newest frame at once rather than at the next tick.
"""

from __future__ import annotations

import threading

import zmq

from smartcam.capture.location import open_location
from smartcam.capture.settings import CaptureSettings
from smartcam.capture.sources import FrameSource, open_source
from smartcam.common.frames import LatestFrameServer
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.wire import Frame

# Longest single wait on the socket, so a stop request (SIGTERM) ends a slow replay's wait soon.
STOP_CHECK_S = 0.1


def serve_until_due(server: LatestFrameServer, source: FrameSource, stop: threading.Event) -> None:
    """Answer frame requests until the source's next frame is due; once, without waiting, for a camera."""
    while True:
        due_in = source.due_in()
        server.serve(min(due_in, STOP_CHECK_S))
        if due_in == 0 or stop.is_set():
            return


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
            serve_until_due(server, source, ctx.stop)
            if ctx.stop.is_set():
                break
            images = source.read()
            if ctx.stop.is_set():
                break
            server.offer(Frame(settings.camera_id, seq, images.captured_at, location.current(),
                               images.image_parts(), images.buffers()))
            seq += 1
            ctx.health.working(seq=seq)
    finally:
        server.close()
        source.close()
        location.close()
        context.term()


def main() -> int:
    return run_service("capture", CaptureSettings, body)
