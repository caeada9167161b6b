"""Decide whether a candidate model may replace the serving one: load it, check it fits, try it on a real frame.

Runs off the frame loop (in the switcher's worker thread), so frames keep flowing while it works.
Every refusal is a ModelError whose message is the reason reported to the updater and the history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from smartcam.common.wire import Frame
from smartcam.infer.candidates import Candidate
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.pixels import detection_stream, stream_as_rgb


def check_labels(candidate: Detector, serving: Detector, interesting: Iterable[str], blurred: Iterable[str]) -> None:
    """The candidate must detect some label of interest, and keep blurring what is blurred now (privacy)."""
    labels = set(candidate.labels)
    interesting = sorted(interesting)
    if not labels.intersection(interesting):
        raise ModelError(f"model detects {sorted(labels)}, none of the labels of interest {interesting} "
                         "(SMARTCAM_DETECT_LABELS); it would never produce an event")
    lost = sorted(set(blurred).intersection(serving.labels) - labels)
    if lost:
        raise ModelError(f"model cannot detect {lost}, which are blurred now (SMARTCAM_BLUR_LABELS); switching "
                         "would upload them unblurred")


def try_on_frame(detector: Detector, frame: Frame) -> int:
    """Run one inference on a real frame; return the number of detections, or raise ModelError."""
    try:
        detections = detector.detect(stream_as_rgb(frame, detection_stream(frame)))
    except Exception as error:
        raise ModelError(f"model failed on a real frame: {type(error).__name__}: {error}") from None
    for detection in detections:
        if not (0.0 <= detection.score <= 1.0 and all(math.isfinite(v) for v in detection.box)):
            raise ModelError(f"model produced an invalid detection on a real frame: {detection}")
    return len(detections)


def run_trial(candidate: Candidate, serving: Detector, frame: Frame | None, *, interesting: Iterable[str],
              blurred: Iterable[str], num_threads: int) -> tuple[Detector, str]:
    """Return the warmed-up detector and a one-line summary, or raise ModelError with the reason."""
    detector = Detector.load(candidate.model_dir, num_threads)
    if detector.model_ref.sha256 != candidate.sha256:
        raise ModelError(f"{candidate.model_dir} holds sha256 {detector.model_ref.sha256}, but the updater offered "
                         f"{candidate.sha256}")
    check_labels(detector, serving, interesting, blurred)
    if frame is None:
        return detector, "loaded and warmed up (no frame from capture yet to try it on)"
    found = try_on_frame(detector, frame)
    return detector, f"loaded and tried on frame {frame.seq} ({found} detections)"
