"""The heartbeat's `pipeline` and `gps` parts (and the clock's GPS offset), from capture's and infer's status files.

capture and infer each rewrite `status.json` about once a second on a tmpfs volume of their own,
mounted read-only here (`<pipeline_status_mount>/capture/`, `.../infer/`). Every file is optional:

- absent (service not started, or an older release that writes none): its fields are null;
- older than its `stale_after_s` (service stopped or stuck): named in `pipeline.stale`, with its age;
  counters are its last word, its frame rate and GPS figures are null;
- damaged, foreign, oversized or newer than this uploader reads: its fields are null, the reason goes
  to the heartbeat's `problems`, and one warning per kind is logged (then only counted).

Nothing here raises: a broken neighbour cannot stop the heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from smartcam.common.contracts.base import DocumentError, DocumentVersionError, read_document
from smartcam.common.contracts.heartbeat import Gps, Pipeline
from smartcam.common.contracts.pipeline_status import CaptureStatus, InferStatus
from smartcam.common.logs import OncePerKind
from smartcam.common.status_file import STATUS_NAME

MAX_STATUS_BYTES = 16 * 1024
S = TypeVar("S", CaptureStatus, InferStatus)


@dataclass
class PipelineFacts:
    pipeline: Pipeline
    gps: Gps
    gps_offset_s: float | None = None
    problems: list[str] = field(default_factory=list)


def read_pipeline_facts(mount: Path, now: float, unacknowledged_events: int, trouble: OncePerKind) -> PipelineFacts:
    """What capture's and infer's status files say at `now` (seconds since 1970)."""
    problems: list[str] = []

    def read(model: type[S], service: str) -> tuple[S | None, float | None]:
        try:
            document = read_document(model, mount / service / STATUS_NAME, MAX_STATUS_BYTES)
        except DocumentError as error:
            kind = "newer" if isinstance(error, DocumentVersionError) else "unreadable"
            trouble.report(f"{service}_{kind}", f"{error}; the heartbeat reports {service}'s figures as null")
            problems.append(f"{error}; not used")
            return None, None
        if document is None:
            return None, None
        return document, round(max(0.0, now - document.written_at), 1)

    capture, capture_age = read(CaptureStatus, "capture")
    infer, infer_age = read(InferStatus, "infer")
    stale = [name for name, document, age in (("capture", capture, capture_age), ("infer", infer, infer_age))
             if document is not None and age is not None and age > document.stale_after_s]
    capture_live = capture is not None and "capture" not in stale
    infer_live = infer is not None and "infer" not in stale
    dropped = (capture.frames_dropped + infer.frames_dropped) if capture is not None and infer is not None else None
    pipeline = Pipeline(
        capture_fps=capture.fps if capture_live and capture is not None else None,
        infer_fps=infer.fps if infer_live and infer is not None else None,
        frames_dropped=dropped,
        unacknowledged_events=unacknowledged_events,
        capture_frames_dropped=capture.frames_dropped if capture is not None else None,
        infer_frames_dropped=infer.frames_dropped if infer is not None else None,
        events_sent=infer.events_sent if infer is not None else None,
        infer_unacknowledged_events=infer.events_unacknowledged if infer is not None else None,
        camera_health=infer.camera_health if infer is not None else None,
        capture_status_age_s=capture_age,
        infer_status_age_s=infer_age,
        stale=stale,
    )
    receiver = capture.gps if capture is not None else None
    if receiver is None:
        return PipelineFacts(pipeline, Gps(), problems=problems)
    age = capture_age or 0.0
    gps = Gps(
        fix_age_s=None if receiver.fix_age_s is None else round(receiver.fix_age_s + age, 1),
        speed_mps=receiver.speed_mps if capture_live else None,
        heading_deg=receiver.heading_deg if capture_live else None,
        satellites=receiver.satellites if capture_live else None,
        fix=receiver.fix and capture_live,
        source=receiver.source,
    )
    offset = receiver.gps_clock_offset_s if gps.fix else None  # "with a GPS fix": an old offset may be outdated
    return PipelineFacts(pipeline, gps, offset, problems)
