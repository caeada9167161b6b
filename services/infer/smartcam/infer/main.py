"""The infer service loop: newest frame -> detector -> selection policy -> blurred JPEG event."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import zmq

from smartcam.common.contracts.parts import CameraHealthReport
from smartcam.common.contracts.pipeline_status import InferStatus
from smartcam.common.events import EventSender
from smartcam.common.frames import LatestFrameClient
from smartcam.common.logs import OncePerKind
from smartcam.common.pipeline_keys import CurveClient, own_keys, restart_when_keys_change, wait_for_public_key
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.status_file import RateMeter, StatusWriter
from smartcam.common.wire import Detection, Event, Frame
from smartcam.infer.camera_health import CameraHealth
from smartcam.infer.detector import Detector, InvokeHooks
from smartcam.infer.early_ask import EarlyAsk
from smartcam.infer.latency import FrameStats
from smartcam.infer.model_state import ModelState
from smartcam.infer.pixels import detection_stream, stream_as_rgb
from smartcam.infer.policy import SelectionPolicy
from smartcam.infer.privacy import encode_jpeg
from smartcam.infer.privacy_stage import PrivacyStage, PrivacyUnavailableError
from smartcam.infer.settings import InferSettings
from smartcam.infer.startup import load_start_model
from smartcam.infer.switcher import ModelSwitcher

FRAME_WAIT_S = 1.0
NO_FRAMES_WARNING_S = 10.0


class Pipeline:
    """One frame at a time; everything it holds is bounded (one frame, the unacked events)."""

    def __init__(self, ctx: ServiceContext[InferSettings], detector: Detector, sender: EventSender,
                 privacy: PrivacyStage, invoke_hooks: InvokeHooks | None = None) -> None:
        """`invoke_hooks` are told around each run of the main model (`EarlyAsk`: the next frame is asked for
        during the run, so it arrives as this one is done)."""
        settings = ctx.settings
        self._invoke_hooks = invoke_hooks
        self._ctx = ctx
        self._settings = settings
        self.detector = detector
        self._sender = sender
        self.privacy = privacy
        self._zones = settings.zone_rules
        self._withheld = OncePerKind(ctx.logger, ctx.counters, "events.withheld")
        self._policy = SelectionPolicy(settings.min_scores, settings.cooldown_s, settings.baseline_every_n)
        self.stats = FrameStats()
        self.camera_health = None if settings.camera_health_after_s == 0 else CameraHealth(
            after_s=settings.camera_health_after_s, reference_s=settings.camera_health_reference_s,
            dark_below=settings.camera_health_dark_below, blur_ratio=settings.camera_health_blur_ratio,
            scene_min_correlation=settings.camera_health_scene_min_correlation)

    def process(self, frame: Frame, now: float | None = None) -> list[Event]:
        """Run detection, the policy and camera health on one frame (seen at monotonic `now`); the events to send."""
        now = time.monotonic() if now is None else now
        pixels = stream_as_rgb(frame, detection_stream(frame))
        detections = self._zones.apply(self.detector.detect(pixels, hooks=self._invoke_hooks))
        if not frame.intact():  # its ring slot was overwritten while detecting: the result may be of a torn image
            self._ctx.counters.inc("frames.overwritten")
            return []
        decision = self._policy.decide(detections, now)
        self._ctx.counters.inc("frames.inferred")
        self.stats.record(frame.captured_at.timestamp(), time.time())
        events = []
        if decision.emit and (event := self._event(frame, list(detections), decision.sample)) is not None:
            self._ctx.counters.inc("events.samples" if decision.sample else f"events.reason.{decision.reason}")
            events.append(event)
        if self.camera_health is not None:
            events.extend(self._camera_health_events(self.camera_health, frame, pixels, detections, now))
        return events

    def _camera_health_events(self, health: CameraHealth, frame: Frame, pixels: npt.NDArray[np.uint8],
                              detections: Sequence[Detection], now: float) -> list[Event]:
        """One `camera_health` event per condition raised or cleared on this frame (most frames: none)."""
        events = []
        for change in health.observe(pixels, now, frame.seq):
            report = health.report(change)
            self._ctx.logger.warning("camera health: %s %s (%s)", change.condition, report.state,
                                     report.figures.model_dump_json())
            # The typed part is `camera_health`; the first detection is the label targets of the first release read.
            # The frame's own detections go along: the privacy stage blurs by them (faces, when the model finds faces).
            marker = Detection(label=change.label, score=1.0, box=(0.0, 0.0, 1.0, 1.0))
            if (event := self._event(frame, [marker, *detections], sample=False, camera_health=report)) is not None:
                self._ctx.counters.inc(f"events.camera_health.{change.label.split(':', 1)[1]}")
                events.append(event)
        return events

    def camera_health_summary(self) -> list[str] | None:
        """The camera conditions raised and not cleared, for the health file; None when camera health is off."""
        return None if self.camera_health is None else self.camera_health.active

    def _event(self, frame: Frame, detections: list[Detection], sample: bool,
               camera_health: CameraHealthReport | None = None) -> Event | None:
        """The event for this frame, its JPEG through the privacy stage; None when privacy cannot be applied."""
        settings = self._settings
        try:
            redacted = self.privacy.redact(self._zones.burn_masks(stream_as_rgb(frame, frame.parts[0].name)),
                                           self.detector.labels, detections)
        except PrivacyUnavailableError as error:
            self._withheld.report("privacy_unavailable", f"event of frame {frame.seq} withheld: {error}")
            return None
        jpeg = encode_jpeg(redacted, settings.jpeg_quality, settings.jpeg_max_size)
        if not frame.intact():  # the full frame's ring slot was overwritten while encoding: never send a torn image
            self._withheld.report("frame_overwritten", f"event of frame {frame.seq} withheld: its ring slot was "
                                                       "overwritten while the JPEG was made")
            return None
        return Event(event_id=uuid.uuid4().hex, camera_id=frame.camera_id, seq=frame.seq,
                     captured_at=frame.captured_at, location=frame.location, detections=detections,
                     model=self.detector.model_ref, sample=sample, image=jpeg, camera_health=camera_health)


def body(ctx: ServiceContext[InferSettings]) -> None:
    settings = ctx.settings
    detector, switcher = _start_model(ctx)
    ctx.logger.info("model %s (sha256 %s…) loaded; labels of interest %s",
                    detector.model_ref.name, detector.model_ref.sha256[:12], settings.min_scores)
    channels = _connect(ctx)
    if channels is None:  # stopped while waiting for capture's or the uploader's key
        _close(switcher)
        return
    context, frames, sender = channels
    privacy = _privacy_stage(ctx, switcher)
    early_ask = EarlyAsk(frames.ask)
    pipeline = Pipeline(ctx, detector, sender, privacy, invoke_hooks=early_ask)
    status = StatusWriter(settings.status_dir, infer_status(ctx, pipeline, sender), ctx.logger, ctx.counters)
    ctx.health.add_details(pipeline.stats.summary)  # percentiles are worked out when the health file is written
    waiting = OncePerKind(ctx.logger, ctx.counters, "infer.waiting")
    unusable = OncePerKind(ctx.logger, ctx.counters, "frames.unusable")
    last_frame_at = time.monotonic()
    try:
        while not ctx.stop.is_set():
            sender.poll(0)
            status.maybe_write()
            frame = frames.next_frame(FRAME_WAIT_S)
            if frame is not None:  # a wait with no frame (capture stopped) says nothing about the round trip
                early_ask.waited(frames.waited_s)
            if switcher is not None and (switched := switcher.poll(frame)) is not None:
                pipeline.detector = switched  # between two frames: this frame is the first on the new model
            if frame is None:
                idle_s = time.monotonic() - last_frame_at
                if idle_s > NO_FRAMES_WARNING_S:
                    reason = f"no frames from capture at {settings.frames_endpoint} for {idle_s:.0f}s"
                    waiting.report("no_frames", reason)
                    ctx.health.degraded(reason)
                continue
            if time.monotonic() - last_frame_at > NO_FRAMES_WARNING_S:
                ctx.logger.info("frames from capture are flowing again")
            waiting.forget("no_frames")
            last_frame_at = time.monotonic()
            try:
                events = pipeline.process(frame)
            except ValueError as error:  # a frame the detector cannot take; the next one may be fine
                unusable.report(type(error).__name__, f"skipped frame {frame.seq}: {error}")
                continue
            for event in events:
                sender.send(event)
            _report_frame_done(ctx, pipeline, sender)
    finally:
        early_ask.close()  # before the socket it sends on
        _close(switcher)
        frames.close()
        sender.close()
        context.term()


def _report_frame_done(ctx: ServiceContext[InferSettings], pipeline: Pipeline, sender: EventSender) -> None:
    """Health after a frame: working, or failing while the privacy stage is unavailable (nothing may be uploaded)."""
    if (unavailable := pipeline.privacy.unavailable) is not None:
        ctx.health.failing(unavailable)
        return
    model = pipeline.detector.model_ref
    ctx.health.working(model=model.name, model_sha256=model.sha256, unacked_events=sender.unacked,
                       camera_health=pipeline.camera_health_summary())


def infer_status(ctx: ServiceContext[InferSettings], pipeline: Pipeline,
                 sender: EventSender) -> Callable[[float], InferStatus]:
    """Builds infer's status document (for the uploader's heartbeat) from its counters and the event sender."""
    rate = RateMeter()
    counters = ctx.counters

    def build(now: float) -> InferStatus:
        inferred = counters.get("frames.inferred")
        return InferStatus(written_at=round(now, 3), fps=rate.rate(inferred), frames_inferred=inferred,
                           frames_dropped=counters.get("frames.superseded") + counters.get("frames.overwritten"),
                           events_sent=counters.get("events.created"), events_unacknowledged=sender.unacked,
                           camera_health=pipeline.camera_health_summary())

    return build


def _privacy_stage(ctx: ServiceContext[InferSettings], switcher: ModelSwitcher | None) -> PrivacyStage:
    """The privacy stage; the model switcher learns which labels it covers (faces), for trials of new models."""
    settings = ctx.settings
    privacy = PrivacyStage.load(faces=settings.privacy_faces, model_dir=settings.privacy_model_dir,
                                blurred_labels=settings.blurred_labels, margin=settings.blur_margin,
                                face_min_score=settings.privacy_min_score, num_threads=settings.inference_threads,
                                logger=ctx.logger)
    if switcher is not None:
        switcher.privacy_covers(privacy.face_labels)
    return privacy


def _curve_clients(ctx: ServiceContext[InferSettings]) -> tuple[CurveClient, CurveClient] | None:
    """CURVE options towards capture and the uploader, once both have published their keys; None if stopped first."""
    keys_dir = ctx.settings.pipeline_keys_dir
    keys = own_keys(keys_dir, "infer")  # published before connecting: the servers admit it by this file
    capture, uploader = (wait_for_public_key(keys_dir, server, ctx.stop, ctx.logger, ctx.health.degraded)
                         for server in ("capture", "uploader"))
    if capture is None or uploader is None:
        return None
    restart_when_keys_change(keys_dir, {"infer": keys.public, "capture": capture, "uploader": uploader}, ctx.stop,
                             ctx.logger)
    return CurveClient(keys, capture), CurveClient(keys, uploader)


def _connect(ctx: ServiceContext[InferSettings]) -> tuple[zmq.Context[zmq.Socket[bytes]], LatestFrameClient,
                                                          EventSender] | None:
    """The frames and events channels, CURVE-keyed; None if stopped while waiting for the servers' keys."""
    settings = ctx.settings
    curve = _curve_clients(ctx)
    if curve is None:
        return None
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    frames = LatestFrameClient(context, settings.frames_endpoint, ctx.counters, ctx.logger,
                               ring_file=settings.frame_ring_file, curve=curve[0])
    sender = EventSender(context, settings.events_endpoint, ctx.counters, ctx.logger,
                         max_unacked=settings.max_unacked_events, ack_timeout_s=settings.ack_timeout_s,
                         curve=curve[1])
    return context, frames, sender


def _close(switcher: ModelSwitcher | None) -> None:
    if switcher is not None:
        switcher.close()


def _start_model(ctx: ServiceContext[InferSettings]) -> tuple[Detector, ModelSwitcher | None]:
    """The starting detector, plus a switcher when the models and state volumes are mounted."""
    settings = ctx.settings
    if not (settings.models_dir.is_dir() and os.access(settings.infer_state_dir, os.W_OK)):
        ctx.logger.info("model updates off (no models volume at %s or no writable %s); serving %s",
                        settings.models_dir, settings.infer_state_dir, settings.model_dir)
        return Detector.load(settings.model_dir, settings.inference_threads), None
    state = ModelState(settings.infer_state_dir, ctx.logger)
    detector = load_start_model(settings, state, ctx.logger, ctx.counters)
    return detector, ModelSwitcher(settings, state, detector, ctx.logger, ctx.counters)


def main() -> int:
    return run_service("infer", InferSettings, body)
