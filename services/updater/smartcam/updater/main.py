"""The updater: `python -m smartcam.updater [--self-test]`.

One loop, two kinds of update, one history (`<updater_dir>/history.json`):
- images (SMARTCAM_REGISTRY set): poll the channel's tags, update containers gated on their
  healthcheck (engine.py);
- models (SMARTCAM_MODEL_MANIFEST_URL set): offer verified models to infer (models/).
`--self-test` is what a running updater executes in a throwaway container of a new updater
image before handing over to it.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import Protocol

from smartcam.common.contracts.updater_state import PendingUpdate
from smartcam.common.history import UpdateHistory
from smartcam.common.logs import OncePerKind
from smartcam.common.polling import PollSchedule
from smartcam.common.service import ServiceContext, run_service
from smartcam.common.settings import SettingsError, load_settings
from smartcam.updater.docker_calls import DockerCalls
from smartcam.updater.engine import Engine, state_dir_ready
from smartcam.updater.models import ModelUpdater
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import Pending, active_model, write_state

HEARTBEAT_S = 5.0  # the health file must stay fresh while the updater waits hours between polls


class ImagePolling:
    """Runs an image poll round whenever the channel's schedule says so."""

    def __init__(self, ctx: ServiceContext[UpdaterSettings], history: UpdateHistory, pending: Pending) -> None:
        settings = ctx.settings
        self._ctx = ctx
        self._engine = Engine(DockerCalls.connect(settings.docker_host), settings, history, ctx.logger, ctx.counters,
                              heartbeat=lambda: _heartbeat(ctx), pending=pending)
        self._schedule = PollSchedule(settings.poll_interval, settings.poll_jitter, settings.retry_initial_s)
        self.next_poll = time.monotonic() + settings.first_poll_delay_s
        ctx.logger.info("image updates: polling %s every %.0fs (project %s)", settings.registry,
                        settings.poll_interval, self._engine.project)

    def write_pending(self) -> None:
        self._engine.write_pending()

    def step(self) -> None:
        if time.monotonic() < self.next_poll:
            return
        reached = self._engine.poll_once()
        self._ctx.counters.inc("polls.ok" if reached else "polls.failed")
        self.next_poll = time.monotonic() + (self._schedule.succeeded() if reached else self._schedule.failed())
        opens_at = self._engine.window_opens_at
        if opens_at is not None:  # an update waits for the window: look again as it opens
            self.next_poll = min(self.next_poll, time.monotonic() + max(0.0, opens_at - time.time()) + 1.0)


class Step(Protocol):
    def step(self) -> None: ...


class UpdateRound:
    """One pass of the loop: model updates, then image updates.

    The model step handles remote input (manifests, files) and runs first at every start, so anything
    it raises is caught, counted (`loop.failed.<kind>`) and logged once here: a model bug or a hostile
    manifest must never stop image updates, which are how such a bug gets fixed.
    """

    def __init__(self, models: Step, images: Step | None, logger: logging.Logger, failures: OncePerKind) -> None:
        self._models = models
        self._images = images
        self._logger = logger
        self._failures = failures

    def run(self) -> None:
        try:
            self._models.step()
        except Exception as error:  # the loop must outlive any failure of the model step
            self._failures.report(f"models_{type(error).__name__}",
                                  f"model updates failed ({type(error).__name__}: {error}); image updates go on, "
                                  "the model step is retried at its next poll; please report this as a bug",
                                  logging.ERROR)
        if self._images is not None:
            self._images.step()


def _heartbeat(ctx: ServiceContext[UpdaterSettings]) -> None:
    ctx.health.working(version=ctx.settings.version, channel=ctx.settings.channel)


def body(ctx: ServiceContext[UpdaterSettings]) -> None:
    settings = ctx.settings
    _heartbeat(ctx)
    ctx.logger.info("smartcam %s on channel %s (camera %s)", settings.version, settings.channel, settings.camera_id)
    state_dir_ready(settings.updater_dir)
    history = UpdateHistory(settings.updater_dir / "history.json")
    if settings.update_window:
        ctx.logger.info("updates start only in the window %r (UTC), open %.0fs", settings.update_window,
                        settings.update_window_length_s)
    pending = Pending()
    models = ModelUpdater(settings, history, ctx.logger, ctx.counters, heartbeat=lambda: _heartbeat(ctx),
                          pending=pending)
    if not models.enabled:
        ctx.logger.info("model updates off (SMARTCAM_MODEL_MANIFEST_URL is empty)")
    images = ImagePolling(ctx, history, pending) if settings.registry else None
    if images is None:
        ctx.logger.info("image updates off (SMARTCAM_REGISTRY is empty: images are built locally)")
    loop = UpdateRound(models, images, ctx.logger, OncePerKind(ctx.logger, ctx.counters, "loop.failed"))
    reported: list[PendingUpdate] = []
    while not ctx.stop.is_set():
        _heartbeat(ctx)
        loop.run()
        if pending.items() != reported:  # a model update began or stopped waiting for the window
            reported = pending.items()
            if images is None:
                write_state(settings.updater_dir / "state.json", {}, active_model(settings.infer_state_dir), reported)
            else:
                images.write_pending()
        until_poll = HEARTBEAT_S if images is None else images.next_poll - time.monotonic()
        ctx.stop.wait(max(0.0, min(HEARTBEAT_S, until_poll)))


def self_test() -> int:
    """Can this image run the updater? Settings load, every module imports, and ssh-keygen is there
    (without it every later release would be refused as unverifiable)."""
    try:
        load_settings(UpdaterSettings)
    except SettingsError as error:
        print(f"self-test failed: {error}")
        return 1
    if shutil.which("ssh-keygen") is None:
        print("self-test failed: ssh-keygen is missing (install openssh-client); release signatures cannot be checked")
        return 1
    import smartcam.updater.engine  # noqa: PLC0415  (imports the whole image update path)
    import smartcam.updater.models  # noqa: F401, PLC0415  (and the model update path)

    print("self-test ok")
    return 0


def main() -> int:
    """Run the updater; with `--self-test` (what an old updater runs in a new image), only check the image."""
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    return run_service("updater", UpdaterSettings, body)
