"""Decide whether a candidate model may replace the serving one: load it, check it fits, prove it sees.

A model file can be valid TFLite and still be useless: scores that are NaN read as "nothing here"
(the camera goes blind, silently), a model whose every anchor fires floods the uploader. So the
candidate runs on recent real frames (or infer's embedded photos before the first frame) next to a
private copy of the serving model, and must output only finite numbers, stay under a detection
count per frame, and find most of what the serving model finds of the labels of interest.

Runs off the frame loop (in the switcher's worker thread), so frames keep flowing while it works.
Every refusal is a ModelError whose message is the reason reported to the updater and the history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from smartcam.common.wire import Detection
from smartcam.infer.candidates import Candidate
from smartcam.infer.decoders.nms import iou
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.samples import Sample, embedded_photos

MATCH_IOU = 0.3  # a candidate box this close to the serving model's counts as the same object


class TrialError(ModelError):
    """A candidate failed on real pictures; `kind` names the check, for the per-kind rejection counter."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class TrialRules:
    interesting: Mapping[str, float]  # labels of interest -> minimum score (SMARTCAM_DETECT_LABELS)
    blurred: frozenset[str]  # SMARTCAM_BLUR_LABELS
    max_detections: int  # SMARTCAM_TRIAL_MAX_DETECTIONS
    min_recall: float  # SMARTCAM_TRIAL_MIN_RECALL; 0 = off
    num_threads: int = 0  # SMARTCAM_INFERENCE_THREADS


def check_labels(candidate: Detector, serving: Detector, interesting: Iterable[str], blurred: Iterable[str]) -> None:
    """The candidate must detect some label of interest, and keep blurring what is blurred now (privacy)."""
    labels = set(candidate.labels)
    interesting = sorted(interesting)
    if not labels.intersection(interesting):
        raise TrialError("labels", f"model detects {sorted(labels)}, none of the labels of interest {interesting} "
                         "(SMARTCAM_DETECT_LABELS); it would never produce an event")
    lost = sorted(set(blurred).intersection(serving.labels) - labels)
    if lost:
        raise TrialError("labels", f"model cannot detect {lost}, which are blurred now (SMARTCAM_BLUR_LABELS); "
                         "switching would upload them unblurred")


def run_trial(candidate: Candidate, serving: Detector, samples: Sequence[Sample], rules: TrialRules,
              ) -> tuple[Detector, str]:
    """Return the warmed-up detector and a one-line summary, or raise ModelError with the reason.

    `serving` is only read (labels, directory): its interpreter belongs to the frame loop, so the
    comparison runs on a copy loaded here. No `samples` (no frame yet): the embedded photos.
    """
    detector = Detector.load(candidate.model_dir, rules.num_threads)
    if detector.model_ref.sha256 != candidate.sha256:
        raise ModelError(f"{candidate.model_dir} holds sha256 {detector.model_ref.sha256}, but the updater offered "
                         f"{candidate.sha256}")
    check_labels(detector, serving, rules.interesting, rules.blurred)
    source = f"{len(samples)} recent frame(s)" if samples else "infer's embedded photos (no frame yet)"
    tally = _compare(detector, _reference_copy(serving, rules.num_threads), samples or embedded_photos(), rules)
    recall = _judge_recall(tally, rules, serving.model_ref.name, source)
    return detector, (f"tried on {source} next to {serving.model_ref.name}: "
                      f"at most {tally.most} detection(s) a picture, {recall}")


@dataclass
class _Tally:
    most: int = 0  # the candidate's largest detection count on one picture
    wanted: int | None = 0  # the serving model's detections of interest; None = it could not be compared
    matched: int = 0  # how many of those the candidate found too


def _compare(detector: Detector, reference: Detector | None, samples: Sequence[Sample], rules: TrialRules) -> _Tally:
    """Run both models on every sample; raise TrialError on NaN/inf or too many detections."""
    cap = detector.manifest.thresholds.max_detections
    tally = _Tally(wanted=0 if reference is not None else None)
    for sample in samples:
        found = _detect(detector, sample, max(cap, rules.max_detections + 1))  # count past the manifest's cap
        _check_finite(detector, sample, found)
        if len(found) > rules.max_detections:
            raise TrialError(
                "too_many_detections",
                f"model found {len(found)} objects on {sample.name}, more than SMARTCAM_TRIAL_MAX_DETECTIONS="
                f"{rules.max_detections} (counted past the manifest's max_detections): it fires everywhere and "
                "would flood the uploader; fix the model, or raise SMARTCAM_TRIAL_MAX_DETECTIONS if such "
                "scenes are real")
        tally.most = max(tally.most, len(found))
        if reference is not None and tally.wanted is not None:
            served = _of_interest(reference.detect(sample.pixels), rules.interesting)
            tally.wanted += len(served)
            tally.matched += _count_matched(served, _of_interest(found[:cap], rules.interesting))
    return tally


def _reference_copy(serving: Detector, num_threads: int) -> Detector | None:
    """A private copy of the serving model, or None (recall not judged) if it cannot be loaded again."""
    try:
        return Detector.load(serving.model_dir, num_threads)
    except ModelError:
        return None


def _detect(detector: Detector, sample: Sample, cap: int) -> list[Detection]:
    try:
        return detector.detect(sample.pixels, cap)
    except Exception as error:
        raise TrialError("failed", f"model failed on {sample.name}: {type(error).__name__}: {error}") from None


def _check_finite(detector: Detector, sample: Sample, found: list[Detection]) -> None:
    broken = detector.nonfinite_outputs()
    if broken:
        raise TrialError(
            "non_finite",
            f"model outputs NaN or inf in {', '.join(broken)} on {sample.name}: it would see nothing, and the camera "
            "would go blind without an error; the model file is broken (re-export or retrain it)")
    for detection in found:
        if not (0.0 <= detection.score <= 1.0 and all(math.isfinite(v) for v in detection.box)):
            raise TrialError("non_finite", f"model produced an invalid detection on {sample.name}: {detection}")


def _of_interest(detections: list[Detection], interesting: Mapping[str, float]) -> list[Detection]:
    """What would count for an event: a label of interest at or above its minimum score."""
    return [d for d in detections if d.label in interesting and d.score >= interesting[d.label]]


def _count_matched(served: list[Detection], found: list[Detection]) -> int:
    """Serving detections the candidate also has (same label, IoU >= MATCH_IOU), each candidate box used once."""
    free = list(found)
    matched = 0
    for want in served:
        same = [d for d in free if d.label == want.label]
        if not same:
            continue
        overlaps = iou(np.asarray(want.box, np.float32), np.asarray([d.box for d in same], np.float32))
        best = int(np.argmax(overlaps))
        if overlaps[best] >= MATCH_IOU:
            free.remove(same[best])
            matched += 1
    return matched


def _judge_recall(tally: _Tally, rules: TrialRules, serving_name: str, source: str) -> str:
    """The recall clause of the summary, or TrialError when the candidate loses most of what serving sees."""
    if tally.wanted is None:
        return f"recall not checked ({serving_name} could not be loaded again to compare)"
    if tally.wanted == 0:
        return f"recall not checked ({serving_name} found nothing of interest there)"
    recall = tally.matched / tally.wanted
    if recall < rules.min_recall:
        raise TrialError(
            "low_recall",
            f"model finds only {tally.matched} of the {tally.wanted} objects of interest {serving_name} finds on "
            f"{source} (recall {recall:.2f} < SMARTCAM_TRIAL_MIN_RECALL={rules.min_recall}): it would miss what "
            "the camera sees now; check the model and its manifest's thresholds, or lower "
            "SMARTCAM_TRIAL_MIN_RECALL (0 = off)")
    return f"recall {recall:.2f} ({tally.matched} of {tally.wanted} objects of interest)"
