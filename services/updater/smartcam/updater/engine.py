"""One poll round: observe this stack's containers and the registry, then plan and execute each
service's update step by step (plan.py decides, executors.py acts).

Nothing is pulled when the channel tag's digest equals the running image's, or when that digest
already failed its health gate here (kept in `bad-digests.json` until a newer one appears).
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from smartcam.common.badlist import BadDigests
from smartcam.common.contracts.updater_state import PendingUpdate
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory
from smartcam.common.logs import OncePerKind
from smartcam.common.service import FatalError
from smartcam.updater import plan
from smartcam.updater.containers import PREVIOUS_SUFFIX, name_of
from smartcam.updater.docker_calls import DOCKER_ERRORS, DockerCalls
from smartcam.updater.executors import Executors, Work
from smartcam.updater.image_signatures import ImageSignatures
from smartcam.updater.images import repo_digest, split_ref
from smartcam.updater.plan import UPDATER, Attempt, Current, Offer, RegistryError, Situation
from smartcam.updater.replace import Replacer, Running
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import Pending, RunningService, active_model, iso_utc, write_state

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# A predecessor still present this long after this updater started has failed to remove itself.
HANDOVER_GRACE_S = 120.0
MAX_STEPS = 20  # one update takes at most 8; more means the plan does not advance


class Engine:
    def __init__(self, calls: DockerCalls, settings: UpdaterSettings, history: UpdateHistory,
                 logger: logging.Logger, counters: Counters, *, heartbeat: Callable[[], None],
                 pending: Pending | None = None, clock: Callable[[], float] = time.time) -> None:
        self._calls = calls
        self._pending = pending or Pending()
        self._services: dict[str, RunningService] = {}
        self._clock = clock
        self._settings = settings
        self._logger = logger
        self._problems = OncePerKind(logger, counters, "updates.problem")
        self._bad = BadDigests(settings.updater_dir / "bad-digests.json")
        replacer = Replacer(calls, logger, settings.health_timeout_s, heartbeat)
        signatures = ImageSignatures(calls, settings.release_signers, heartbeat, logger)
        self._executors = Executors(calls, replacer, signatures=signatures, bad=self._bad, history=history,
                                    counters=counters, problems=self._problems, logger=logger, heartbeat=heartbeat)
        self._started = time.monotonic()
        self._registry_failures = 0
        self.me = self._own_container()
        self.project = str((self.me["Config"].get("Labels") or {}).get(PROJECT_LABEL, ""))

    def _own_container(self) -> dict[str, Any]:
        try:
            return self._calls.inspect_container(socket.gethostname())
        except DOCKER_ERRORS as error:
            raise FatalError(f"cannot find the updater's own container through {self._settings.docker_host} "
                             f"({error}); is the docker-api service running?") from error

    def poll_once(self) -> bool:
        """Check every service, then the updater itself; False when the registry or Docker could not be reached."""
        try:
            reached = self._poll()
        except DOCKER_ERRORS as error:
            self._problems.report("docker-api", f"Docker API unreachable through {self._settings.docker_host} "
                                  f"({error}); keeping what runs and retrying later", level=logging.ERROR)
            return False
        self._problems.forget("docker-api")
        return reached

    def _poll(self) -> bool:
        running = self._find_running(recover=True)
        offered = self._offers(running)
        window = self._settings.window
        now = self._clock()
        window_open = window.is_open(now)
        situation = Situation(
            services=self._settings.service_names,
            running={s: Current(s, r.digest, int(r.image.get("Size", 0))) for s, r in running.items()},
            offered=offered,
            bad={s: frozenset(d for d in [offered.get(s)] if isinstance(d, str) and self._bad.is_bad(r.repository, d))
                 for s, r in running.items()},
            free_disk_bytes=self._free_disk(),
            min_free_disk_bytes=self._settings.min_free_disk_mb * 2**20,
            window_open=window_open, window_opens_at=None if window_open else window.next_opening(now))
        for service in plan.order(self._settings.service_names):
            self._run(service, situation, running.get(service))
        self._write_state()
        return not any(isinstance(offer, RegistryError) for offer in offered.values())

    def _run(self, service: str, situation: Situation, current: Running | None) -> None:
        """Plan, execute the first step, feed back what it found out, plan again; until the turn ends."""
        self._pending.clear(_kind(service), service)  # held again below while the window stays closed
        attempts: dict[str, Attempt] = {}
        work = Work()  # what the executors hold for this service's steps
        steps: list[plan.Step] = []
        for _ in range(MAX_STEPS):
            now = replace(situation, free_disk_bytes=self._free_disk(), attempts=attempts)  # a pull takes space
            steps = plan.next_steps(service, now)
            if not steps:
                return
            step = steps[0]
            if isinstance(step, plan.HoldForWindow):
                self._hold(step)
            if current is None or isinstance(step, plan.Skip | plan.HoldForDisk | plan.HoldForWindow):
                self._executors.report(step, current)
                return
            attempt = attempts.get(service) or Attempt(str(now.offered[service]))
            try:
                attempts[service] = self._executors.execute(step, current, attempt, work)
            except DOCKER_ERRORS as error:
                attempts[service] = replace(attempt, failure=plan.failure(step, str(error)))
                continue
            if step.ends_turn:
                return
        self._logger.error("%s: the update plan did not end after %d steps (last: %s); stopped there, please report "
                           "this bug", service, MAX_STEPS, steps)

    def _hold(self, step: plan.HoldForWindow) -> None:
        opens_at = iso_utc(step.opens_at) if step.opens_at is not None else None
        self._pending.hold(PendingUpdate(kind=_kind(step.service), target=step.service, to_ref=step.digest,
                                         reason=step.reason, opens_at=opens_at))

    @property
    def window_opens_at(self) -> float | None:
        """When the maintenance window opens next, while an image update waits for it (else None)."""
        if not any(p.kind != "model" for p in self._pending.items()):
            return None
        return self._settings.window.next_opening(self._clock())

    def _free_disk(self) -> int:
        """The state dir is a named volume, which Docker keeps on the same filesystem as its images
        (/var/lib/docker), so its free space is the space a pull can use."""
        return shutil.disk_usage(self._settings.updater_dir).free

    # --- observing -------------------------------------------------------------------------------

    def _find_running(self, *, recover: bool = False) -> dict[str, Running]:
        containers = self._calls.list_containers()  # docker-api shows only this project's
        by_name = {name_of(c): c for c in containers}
        found: dict[str, Running] = {}
        for container in containers:
            service = (container["Config"].get("Labels") or {}).get(SERVICE_LABEL, "")
            name = name_of(container)
            if name.endswith(PREVIOUS_SUFFIX):
                if recover:
                    self._recover(container, by_name.get(name.removesuffix(PREVIOUS_SUFFIX)), service)
                continue
            ref = container["Config"]["Image"]
            if service not in plan.order(self._settings.service_names) or not ref.startswith(self._settings.registry):
                continue
            repository, tag = split_ref(ref)
            image = self._calls.inspect_image(container["Image"])
            found[service] = Running(service, container, ref, repository, tag, image, repo_digest(image, repository))
        return found

    def _recover(self, previous: dict[str, Any], current: dict[str, Any] | None, service: str) -> None:
        """A `.previous` container outside an update: an update was interrupted (power cut, crash)."""
        name = name_of(previous).removesuffix(PREVIOUS_SUFFIX)
        if service == UPDATER and time.monotonic() - self._started < HANDOVER_GRACE_S:
            return  # our predecessor, still handing over; it removes itself
        if current is None:
            self._logger.warning("found %s without %s (interrupted update); restoring it", name_of(previous), name)
            self._calls.rename(previous["Id"], name)
            self._calls.start(previous["Id"])
            return
        self._logger.warning("removing %s left over from an interrupted update", name_of(previous))
        self._calls.remove_container(previous["Id"])

    def _offers(self, running: dict[str, Running]) -> dict[str, Offer]:
        """What the channel's tag points at for each running service; one service's error does not stop the rest."""
        offered: dict[str, Offer] = {}
        for service, current in running.items():
            try:
                offered[service] = self._calls.registry_digest(current.ref)
            except DOCKER_ERRORS as error:
                offered[service] = RegistryError(f"cannot check {current.ref} in the registry ({error}); "
                                                 "keeping what runs and retrying later")
        if any(isinstance(offer, RegistryError) for offer in offered.values()):
            self._registry_failures += 1
        elif self._registry_failures:
            self._logger.info("registry reachable again after %d failed polls", self._registry_failures)
            self._registry_failures = 0
            self._problems.forget("registry")
        return offered

    def _write_state(self) -> None:
        services = {}
        for service, current in self._find_running().items():
            env = dict(item.partition("=")[::2] for item in current.image["Config"].get("Env") or [])
            services[service] = RunningService(current.ref, current.digest, env.get("SMARTCAM_VERSION"))
        self._services = services
        self.write_pending()

    def write_pending(self) -> None:
        """Rewrite state.json with what the last round found running and what waits now (no Docker calls)."""
        write_state(self._settings.updater_dir / "state.json", self._services,
                    active_model(self._settings.infer_state_dir), self._pending.items())


def _kind(service: str) -> Literal["service", "updater"]:
    return "updater" if service == UPDATER else "service"


def state_dir_ready(path: Path) -> None:
    """The state dir is a named volume; without it nothing survives a restart (bad digests, history)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise FatalError(f"state dir {path} is not writable ({error}); mount the updater-state volume there "
                         "(SMARTCAM_UPDATER_DIR)") from error
