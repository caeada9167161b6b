"""Hot model switching: try an offered model in the background, swap it in between two frames.

The frame loop calls `poll()` once per round; it only stats a file every few seconds, and the slow
part (loading and trying the model) runs in a worker thread, so frames keep flowing meanwhile.
A refused model changes nothing: the serving detector stays, and the reason is logged, counted
and written to the state file for the updater's history.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from smartcam.common.counters import Counters
from smartcam.common.wire import Frame, ModelRef
from smartcam.infer.candidates import Candidate, CandidateWatcher
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.model_state import ModelState
from smartcam.infer.samples import RecentFrames
from smartcam.infer.settings import InferSettings
from smartcam.infer.trial import TrialRules, run_trial


class ModelSwitcher:
    """Owns the serving detector's succession; one trial at a time, each candidate decided once."""

    def __init__(self, settings: InferSettings, state: ModelState, serving: Detector, logger: logging.Logger,
                 counters: Counters) -> None:
        self._settings = settings
        self._state = state
        self._serving = serving
        self._logger = logger
        self._counters = counters
        self._watcher = CandidateWatcher(settings.models_dir, logger)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-trial")
        self._trial: tuple[Candidate, Future[tuple[Detector, str]]] | None = None
        self._recent = RecentFrames(settings.trial_frames)
        self._next_check = 0.0
        self._privacy_labels: frozenset[str] = frozenset()

    def privacy_covers(self, labels: frozenset[str]) -> None:
        """Labels the privacy stage blurs whatever the main model is: a candidate need not detect them."""
        self._privacy_labels = labels

    def poll(self, frame: Frame | None) -> Detector | None:
        """A new detector when a candidate passed its trial: the caller uses it from its current frame on."""
        if frame is not None:
            self._recent.add(frame)
        if self._trial is not None:
            candidate, future = self._trial
            return self._finish(candidate, future) if future.done() else None
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + self._settings.model_check_interval_s
            self._maybe_start(self._watcher.changed())
        return None

    def _maybe_start(self, candidate: Candidate | None) -> None:
        if candidate is None or self._state.has_verdict(candidate.id):
            return
        serving = self._serving.model_ref
        if candidate.sha256 == serving.sha256:
            self._state.accepted(candidate.id, serving, candidate.model_dir, "already serving this model", serving)
            return
        self._logger.info("trying model %s (sha256 %s…) from %s while %s keeps serving", candidate.name,
                          candidate.sha256[:12], candidate.model_dir, serving.name)
        settings = self._settings
        rules = TrialRules(settings.min_scores, settings.blurred_labels - self._privacy_labels,
                           settings.trial_max_detections,
                           settings.trial_min_recall, settings.inference_threads)
        future = self._worker.submit(run_trial, candidate, self._serving, self._recent.snapshot(), rules)
        self._trial = (candidate, future)

    def _finish(self, candidate: Candidate, future: Future[tuple[Detector, str]]) -> Detector | None:
        self._trial = None
        previous = self._serving.model_ref
        try:
            detector, summary = future.result()
        except ModelError as error:
            self._reject(candidate, str(error), getattr(error, "kind", "unusable"))
            return None
        except Exception as error:  # an unexpected failure must not take the serving model down
            self._logger.exception("trying model %s failed unexpectedly", candidate.name)
            self._reject(candidate, f"unexpected {type(error).__name__}: {error}", "unexpected")
            return None
        self._serving = detector
        self._state.accepted(candidate.id, detector.model_ref, candidate.model_dir, summary, previous)
        self._counters.inc("models.switched")
        self._logger.info("switched model %s (sha256 %s…) -> %s (sha256 %s…): %s", previous.name,
                          previous.sha256[:12], detector.model_ref.name, detector.model_ref.sha256[:12], summary)
        return detector

    def _reject(self, candidate: Candidate, reason: str, kind: str) -> None:
        """Record, count (in total and per kind) and log; each candidate is decided once, so each is logged."""
        serving = self._serving.model_ref
        self._state.rejected(candidate.id, _offered(candidate), reason, serving)
        self._counters.inc("models.rejected")
        self._counters.inc(f"models.rejected.{kind}")
        self._logger.error("rejected model %s (sha256 %s…), %s keeps serving: %s", candidate.name,
                           candidate.sha256[:12], serving.name, reason)

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)


def _offered(candidate: Candidate) -> ModelRef:
    return ModelRef(candidate.name, candidate.sha256)
