"""The capture service loop: read the next frame, stamp time and location, offer it to infer.

About once a second it also rewrites its status document (frame rate, drops, GPS) for the uploader's heartbeat.

While the next frame is not yet due (replay's pacing), capture answers frame requests instead of
sleeping, so a consumer that asks gets the newest frame at once rather than at the next tick. Replay on
demand (SMARTCAM_REPLAY_ON_DEMAND) makes the next frame only once a consumer waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import zmq

from smartcam.capture.location import LocationProvider, open_location
from smartcam.capture.settings import CaptureSettings
from smartcam.capture.sources import FrameSource, open_source
from smartcam.common.contracts.pipeline_status import STALE_AFTER_S, CaptureStatus
from smartcam.common.counters import Counters
from smartcam.common.frames import LatestFrameServer
from smartcam.common.pipeline_gate import Gate
from smartcam.common.pipeline_keys import own_keys, restart_when_keys_change
from smartcam.common.ring import RingError, RingWriter
from smartcam.common.service import FatalError, ServiceContext, run_service
from smartcam.common.status_file import RateMeter, StatusWriter
from smartcam.common.wire import PIXEL_FORMATS, Frame

# Longest single wait on the socket, so a stop request (SIGTERM) ends a slow replay's wait soon.
STOP_CHECK_S = 0.1


def serve_until_due(server: LatestFrameServer, source: FrameSource, stop: threading.Event) -> None:
    """Answer frame requests until the source's next frame is due; once, without waiting, for a camera.

    An on-demand source's frame is due only once a consumer waits for it, as well.
    """
    while not stop.is_set():
        due_in = source.due_in()
        if due_in == 0 and (server.awaited or not source.on_demand):
            server.serve(0)  # requests already queued, so no consumer waits a frame period for its answer
            return
        server.serve(min(due_in or STOP_CHECK_S, STOP_CHECK_S), until_awaited=due_in == 0)


def body(ctx: ServiceContext[CaptureSettings]) -> None:
    settings = ctx.settings
    source = open_source(settings, counters=ctx.counters, stop=ctx.stop)
    location = open_location(settings, ctx.counters)
    keys = own_keys(settings.pipeline_keys_dir, "capture")
    restart_when_keys_change(settings.pipeline_keys_dir, {"capture": keys.public}, ctx.stop, ctx.logger)
    ring = _open_ring(ctx)
    context = zmq.Context()
    gate = Gate(context, settings.pipeline_keys_dir, ctx.logger, ctx.counters)
    try:  # frames only for infer (CURVE, by its published key)
        server = LatestFrameServer(context, settings.frames_endpoint, ctx.counters, ctx.logger, ring=ring,
                                   curve=gate.server("capture", keys, clients=["infer"]))
    except BaseException:
        gate.close()
        raise
    status = StatusWriter(settings.status_dir, capture_status(ctx.counters, location, settings.fps), ctx.logger,
                          ctx.counters)
    ctx.logger.info("capturing from %s at %.2f fps; serving frames on %s (%s)", settings.source, settings.fps,
                    settings.frames_endpoint,
                    "pixels over ZeroMQ" if ring is None else f"pixels in the ring {ring.path}")
    seq = 0
    try:
        while not ctx.stop.is_set():
            try:
                serve_until_due(server, source, ctx.stop)
                if ctx.stop.is_set():
                    break
                images = source.read()
                if ctx.stop.is_set():
                    break
                server.offer(Frame(settings.camera_id, seq, images.captured_at, location.current(),
                                   images.image_parts(), images.buffers()))
            except RingError as error:  # the first send writes to the ring: e.g. a frame no longer fits the volume
                raise FatalError(str(error)) from error
            seq += 1
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
