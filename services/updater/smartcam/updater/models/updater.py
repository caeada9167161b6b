"""One model-update step, called from the updater's main loop: settle the pending candidate, then poll.

Restart-safe by construction: everything it needs is on disk (the candidate pointer, infer's state,
the history), so a restarted updater picks up a pending candidate where it left off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests

from smartcam.common.contracts.base import DocumentVersionError
from smartcam.common.contracts.model_exchange import Candidate
from smartcam.common.contracts.updater_state import PendingUpdate
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateRecord, UpdateResult
from smartcam.common.http_deadline import bounded_session
from smartcam.common.logs import OncePerKind
from smartcam.updater.models.errors import DownloadFailed, ManifestInvalid, ManifestUnavailable, ModelRejected
from smartcam.updater.models.http import UrlCheck
from smartcam.updater.models.infer_state import InferReport, read_infer_report
from smartcam.updater.models.rejections import Rejections
from smartcam.updater.models.remote import RemoteModel, fetch_remote_model
from smartcam.updater.models.store import ModelStore
from smartcam.updater.origins import OriginPolicy
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import Pending, iso_utc


class ModelUpdater:
    """Keeps infer's model at the channel's published model, one candidate at a time."""

    def __init__(self, settings: UpdaterSettings, history: UpdateHistory, logger: logging.Logger,
                 counters: Counters, *, session: requests.Session | None = None,
                 heartbeat: Callable[[], None] | None = None, pending: Pending | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._pending = pending or Pending()
        self._clock = clock
        self._url = settings.channel_model_manifest_url
        # Where the manifest and model files may be fetched from (each redirect too); see origins.py.
        self._origins = OriginPolicy(self._url, settings.model_download_origin_list) if self._url else None
        self._history = history
        self._logger = logger
        self._counters = counters
        self._session = bounded_session(session)
        self._heartbeat = heartbeat  # called every few seconds while a request runs
        self._store = ModelStore(settings.models_dir)
        self._rejections = Rejections(settings.models_dir, settings.model_retry_rejected_s)
        self._problems = OncePerKind(logger, counters, "models.problems")
        self._next_poll = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def step(self) -> None:
        """Cheap unless a poll is due; never raises for a bad manifest, model, network or disk."""
        if not self.enabled:
            return
        try:
            self._step()
        except OSError as error:  # the models volume is missing, read-only or full
            self._problems.report("disk", f"model updates cannot use {self._settings.models_dir}: {error}; "
                                  "mount the models volume there (see compose.yaml)")

    def _check(self, what: str) -> UrlCheck | None:
        return self._origins.checker(what) if self._origins else None

    def _infer_report(self) -> InferReport | None:
        try:
            return read_infer_report(self._settings.infer_state_dir)
        except DocumentVersionError as error:
            self._problems.report("infer_state_newer", str(error), logging.ERROR)
            return None

    def _step(self) -> None:
        report = self._infer_report()
        candidate = self._store.candidate()
        if candidate is not None:
            self._settle(candidate, report)
            return
        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self._settings.model_poll_interval_s
        if report is None:
            self._problems.report("no_infer_state", f"infer has not reported its model in "
                                  f"{self._settings.infer_state_dir} yet; model updates wait for it",
                                  logging.INFO)
            return
        self._poll(report)

    def _poll(self, report: InferReport) -> None:
        try:
            model = fetch_remote_model(self._session, self._url, self._settings.model_manifest_timeout_s,
                                       self._heartbeat, check=self._check("model manifest"),
                                       allowed_signers=self._settings.release_signers)
        except ManifestUnavailable as error:
            self._problems.report(error.kind, str(error))
            return
        except ManifestInvalid as error:
            self._reject_manifest(error)
            return
        for kind in ("manifest", "manifest_deadline", "manifest_invalid", "manifest_too_large", "manifest_origin",
                     "manifest_unsigned", "manifest_changed"):
            self._problems.forget(kind)  # a new outage or bad manifest is logged again
        if model.sha256 == report.active_sha256:
            self._pending.clear("model")
            return
        if self._rejections.blocks(model.digest):
            self._problems.report(f"rejected_{model.digest}", f"model {model.name} (sha256 {model.sha256}) was "
                                  "rejected; it is tried again when its manifest changes or after "
                                  "SMARTCAM_MODEL_RETRY_REJECTED_S", logging.INFO)
            return
        if self._held_for_window(model):
            return
        self._update(model, report.active_sha256)

    def _held_for_window(self, model: RemoteModel) -> bool:
        """Outside the maintenance window the model waits (reported as pending); the next poll is at its opening."""
        window, now = self._settings.window, self._clock()
        if window.is_open(now):
            self._pending.clear("model")
            return False
        opens = window.next_opening(now) or now
        self._pending.clear("model")
        self._pending.hold(PendingUpdate(kind="model", target=model.name, to_ref=model.sha256,
                                         reason="waiting for the update window (SMARTCAM_UPDATE_WINDOW)",
                                         opens_at=iso_utc(opens)))
        self._problems.report(f"window_{model.digest}", f"model {model.name} (sha256 {model.sha256[:12]}…) is "
                              f"available; waiting for the update window until {iso_utc(opens)}", logging.INFO)
        self._next_poll = min(self._next_poll, time.monotonic() + max(0.0, opens - now) + 1.0)
        return True

    def _update(self, model: RemoteModel, from_sha256: str | None) -> None:
        settings = self._settings
        try:
            if model.size_bytes > settings.model_max_mb * 2**20:
                raise ModelRejected(f"model {model.name} is {model.size_bytes} bytes, over SMARTCAM_MODEL_MAX_MB="
                                    f"{settings.model_max_mb}")
            self._store.stage(self._session, model, model.file_url(self._url), settings.model_download_timeout_s,
                              settings.model_min_free_mb * 2**20, heartbeat=self._heartbeat,
                              check=self._check("model file"))
        except ModelRejected as error:
            self._record(model.name, from_sha256, model.sha256, "rejected", str(error))
            self._rejections.add(model.digest)
            return
        except DownloadFailed as error:
            self._record(model.name, from_sha256, model.sha256, "failed", str(error))
            return
        self._store.publish_candidate(model, from_sha256)
        self._counters.inc("models.offered")
        self._logger.info("model %s (sha256 %s…) downloaded and verified; offered to infer", model.name,
                          model.sha256[:12])

    def _reject_manifest(self, error: ManifestInvalid) -> None:
        """Count and log once per kind; record in the history once per publication (and again after the retry
        period), so an hourly poll of the same bad manifest does not flood the history."""
        self._problems.report(error.kind, str(error), logging.ERROR)
        if self._rejections.blocks(error.digest):
            return
        self._history.append(UpdateRecord("model", "manifest", None, error.digest, "rejected", str(error)))
        self._counters.inc("models.rejected")
        self._rejections.add(error.digest)

    def _settle(self, candidate: Candidate, report: InferReport | None) -> None:
        """Record infer's verdict on the pending candidate (or its absence after the timeout), then tidy up."""
        verdict = report.verdicts.get(candidate.id) if report else None
        if verdict is not None:
            result: UpdateResult = "updated" if verdict.result == "accepted" else "rejected"
            self._record(candidate.name, verdict.replaced, candidate.sha256, result, verdict.reason)
            if result == "rejected":
                self._rejections.add(candidate.manifest_digest)
        elif time.time() - candidate.published_at > self._settings.model_verdict_timeout_s:
            self._record(candidate.name, candidate.from_sha256, candidate.sha256, "failed",
                         f"infer gave no verdict within {self._settings.model_verdict_timeout_s:.0f}s; "
                         "is infer running with the models volume mounted?")
        else:
            return
        self._store.clear_candidate()
        active = self._infer_report()
        keep = {active.active_sha256} if active and active.active_sha256 else set()
        removed = self._store.prune(keep)
        if removed:
            self._logger.info("removed models no longer in use: %s", ", ".join(name[:12] for name in removed))

    def _record(self, name: str, from_sha256: str | None, to_sha256: str, result: UpdateResult, reason: str) -> None:
        self._history.append(UpdateRecord("model", name, from_sha256, to_sha256, result, reason))
        self._counters.inc(f"models.{result}")
        level = logging.INFO if result == "updated" else logging.ERROR if result == "rejected" else logging.WARNING
        self._logger.log(level, "model update to %s (sha256 %s…): %s: %s", name, to_sha256[:12], result, reason)
