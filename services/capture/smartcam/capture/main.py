"""The capture service loop: read the next frame, stamp time and location, offer it to infer.

About once a second it also rewrites its status document (frame rate, drops, GPS) for the uploader's heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable

import zmq

from smartcam.capture.location import LocationProvider, open_location
from smartcam.capture.settings import CaptureSettings
from smartcam.capture.sources import open_source
from smartcam.common.contracts.pipeline_status import STALE_AFTER_S, CaptureStatus
from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameServer
from smartcam.common.pipeline_gate import Gate
from smartcam.common.pipeline_keys import own_keys, restart_when_keys_change
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.status_file import RateMeter, StatusWriter
from smartcam.common.wire import Frame


def body(ctx: ServiceContext[CaptureSettings]) -> None:
    settings = ctx.settings
    source = open_source(settings, counters=ctx.counters, stop=ctx.stop)
    location = open_location(settings, ctx.counters)
    keys = own_keys(settings.pipeline_keys_dir, "capture")
    restart_when_keys_change(settings.pipeline_keys_dir, {"capture": keys.public}, ctx.stop, ctx.logger)
    context = zmq.Context()
    gate = Gate(context, settings.pipeline_keys_dir, ctx.logger, ctx.counters)
    try:  # frames only for infer (CURVE, by its published key)
        server = LatestFrameServer(context, settings.frames_endpoint, ctx.counters, ctx.logger,
                                   curve=gate.server("capture", keys, clients=["infer"]))
    except BaseException:
        gate.close()
        raise
    status = StatusWriter(settings.status_dir, capture_status(ctx.counters, location, settings.fps), ctx.logger,
                          ctx.counters)
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
            status.maybe_write()
    finally:
        server.close()
        gate.close()
        source.close()
        location.close()
        context.term()


def capture_status(counters: Counters, location: LocationProvider, fps: float) -> Callable[[float], CaptureStatus]:
    """Builds capture's status document from its counters and the location provider.

    The loop writes it once per frame at most, so at a low frame rate it is stale only after three frame periods.
    """
    rate = RateMeter()
    stale_after_s = max(STALE_AFTER_S, 3 / fps)

    def build(now: float) -> CaptureStatus:
        captured = counters.get("frames.captured")
        return CaptureStatus(written_at=round(now, 3), stale_after_s=stale_after_s, fps=rate.rate(captured),
                             frames_captured=captured, frames_sent=counters.get("frames.sent"),
                             frames_dropped=counters.get("frames.dropped"),
                             gps=location.gps())

    return build


def main() -> int:
    return run_service("capture", CaptureSettings, body)
