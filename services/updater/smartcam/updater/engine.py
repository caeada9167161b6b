"""One poll round: observe this stack's containers and the registry, then plan and execute each
service's update step by step (plan.py decides, the `_do_*` executors here act).

Nothing is pulled when the channel tag's digest equals the running image's, or when that digest
already failed its health gate here (kept in `bad-digests.json` until a newer one appears).
Every attempt ends in exactly one history record; every failure is counted and logged once per
kind until it clears.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartcam.common.badlist import BadDigests
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateKind, UpdateRecord, UpdateResult
from smartcam.common.logs import OncePerKind
from smartcam.common.service import FatalError
from smartcam.updater import plan
from smartcam.updater.containers import PREVIOUS_SUFFIX, name_of
from smartcam.updater.docker_calls import DOCKER_ERRORS, DockerCalls
from smartcam.updater.images import remove_superseded, repo_digest, split_ref
from smartcam.updater.plan import UPDATER, Attempt, Current, Offer, RegistryError, Situation
from smartcam.updater.replace import Replacer, Running
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import RunningService, active_model, write_state

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# A predecessor still present this long after this updater started has failed to remove itself.
HANDOVER_GRACE_S = 120.0
MAX_STEPS = 20  # one update takes at most 8; more means the plan does not advance


@dataclass
class Work:
    """What executing one service's steps holds beyond plain facts: the new image and container."""

    new_image: dict[str, Any] | None = None
    new_container: str | None = None
    stopped_at: float = 0.0

    @property
    def new_image_id(self) -> str:
        return str(self.new_image["Id"]) if self.new_image else ""


class Engine:
    def __init__(self, calls: DockerCalls, settings: UpdaterSettings, history: UpdateHistory,
                 logger: logging.Logger, counters: Counters, *, heartbeat: Callable[[], None]) -> None:
        self._calls = calls
        self._settings = settings
        self._logger = logger
        self._counters = counters
        self._problems = OncePerKind(logger, counters, "updates.problem")
        self._history = history
        self._bad = BadDigests(settings.state_dir / "bad-digests.json")
        self._heartbeat = heartbeat
        self._replacer = Replacer(calls, logger, settings.health_timeout_s, heartbeat)
        self._started = time.monotonic()
        self._registry_failures = 0
        self._recorded_failures: set[tuple[str, str, str]] = set()
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
        situation = Situation(
            services=self._settings.service_names,
            running={s: Current(s, r.digest, int(r.image.get("Size", 0))) for s, r in running.items()},
            offered=offered,
            bad={s: frozenset(d for d in [offered.get(s)] if isinstance(d, str) and self._bad.is_bad(r.repository, d))
                 for s, r in running.items()},
            free_disk_bytes=0,
            min_free_disk_bytes=self._settings.min_free_disk_mb * 2**20)
        for service in plan.order(self._settings.service_names):
            self._run(service, situation, running.get(service))
        self._write_state()
        return not any(isinstance(offer, RegistryError) for offer in offered.values())

    def _run(self, service: str, situation: Situation, current: Running | None) -> None:
        """Plan, execute the first step, feed back what it found out, plan again; until the turn ends."""
        attempts: dict[str, Attempt] = {}
        work = Work()
        for _ in range(MAX_STEPS):
            now = Situation(situation.services, situation.running, situation.offered, situation.bad,
                            self._free_disk(), situation.min_free_disk_bytes, attempts)
            steps = plan.next_steps(service, now)
            if not steps:
                return
            step = steps[0]
            if current is None or isinstance(step, plan.Skip | plan.HoldForDisk):
                self._report(step, current)
                return
            attempt = attempts.get(service) or Attempt(str(now.offered[service]))
            try:
                attempts[service] = self._execute(step, current, attempt, work)
            except DOCKER_ERRORS as error:
                attempts[service] = attempt.but(failure=plan.failure(step, str(error)))
                continue
            if step.ends_turn:
                return
        self._logger.error("%s: the update plan did not end after %d steps (last: %s); stopped there, please report "
                           "this bug", service, MAX_STEPS, steps)

    def _free_disk(self) -> int:
        """The state dir is a named volume, which Docker keeps on the same filesystem as its images
        (/var/lib/docker), so its free space is the space a pull can use."""
        return shutil.disk_usage(self._settings.state_dir).free

    # --- observing -------------------------------------------------------------------------------

    def _find_running(self, *, recover: bool = False) -> dict[str, Running]:
        summaries = self._calls.list_containers(f"{PROJECT_LABEL}={self.project}")
        containers = [self._calls.inspect_container(c["Id"]) for c in summaries]
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

    # --- executing -------------------------------------------------------------------------------

    def _report(self, step: plan.Step, current: Running | None) -> None:
        if isinstance(step, plan.HoldForDisk) and current is not None:
            self._fail(current, step.digest, "disk", step.reason)
        elif isinstance(step, plan.Skip) and step.cause == "registry":
            self._problems.report("registry", step.detail)
        elif isinstance(step, plan.Skip) and step.cause == "bad_digest" and current is not None:
            self._problems.report(f"bad:{step.digest}", f"{current.ref} is {step.detail}", level=logging.INFO)
        else:
            self._logger.debug("%s not updated: %s", step.service, getattr(step, "detail", step))

    def _execute(self, step: plan.Step, current: Running, attempt: Attempt, work: Work) -> Attempt:
        """Perform one step; what it found out."""
        executors: dict[type[plan.Step], Callable[[Any, Running, Attempt, Work], Attempt]] = {
            plan.Pull: self._pull, plan.SelfTest: self._self_test, plan.SetAside: self._set_aside,
            plan.StartNew: self._start_new, plan.WaitHealthy: self._wait_healthy, plan.RemoveOld: self._remove_old,
            plan.Rollback: self._rollback, plan.Prune: self._prune, plan.Finish: self._finish,
            plan.HandOver: self._hand_over, plan.Reject: self._reject, plan.Fail: self._fail_step}
        return executors[type(step)](step, current, attempt, work)

    def _pull(self, step: plan.Pull, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._logger.info("updating %s: %s -> %s", current.service, current.digest or "local build", step.digest)
        work.new_image = self._calls.pull(current.repository, step.digest, self._heartbeat)
        self._calls.tag(work.new_image["Id"], current.repository, current.tag)
        return attempt.but(pulled=True)

    def _self_test(self, step: plan.SelfTest, current: Running, attempt: Attempt, work: Work) -> Attempt:
        return attempt.but(self_test=self._replacer.self_test(work.new_image_id))

    def _set_aside(self, step: plan.SetAside, current: Running, attempt: Attempt, work: Work) -> Attempt:
        work.stopped_at = time.monotonic()
        try:
            self._replacer.set_aside(current, stop=step.stop)
        except DOCKER_ERRORS as error:
            return attempt.but(set_aside_error=str(error))
        return attempt.but(set_aside=True)

    def _start_new(self, step: plan.StartNew, current: Running, attempt: Attempt, work: Work) -> Attempt:
        work.new_container, problem = self._replacer.start_new(current, work.new_image_id)
        return attempt.but(started=problem is None, health=problem)

    def _wait_healthy(self, step: plan.WaitHealthy, current: Running, attempt: Attempt, work: Work) -> Attempt:
        verdict = self._replacer.wait_healthy(work.new_container or "")
        return attempt.but(health=verdict, healthy_after_s=time.monotonic() - work.stopped_at)

    def _remove_old(self, step: plan.RemoveOld, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._replacer.remove(current.id)
        return attempt.but(old_removed=True)

    def _rollback(self, step: plan.Rollback, current: Running, attempt: Attempt, work: Work) -> Attempt:
        problem = self._replacer.restore(current, work.new_container, restart_old=step.restart_old)
        return attempt.but(rolled_back=True, rollback_problem=problem)

    def _prune(self, step: plan.Prune, current: Running, attempt: Attempt, work: Work) -> Attempt:
        keep = {work.new_image_id, current.image_id}
        return attempt.but(pruned=remove_superseded(self._calls, current.repository, keep, self._logger))

    def _finish(self, step: plan.Finish, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._counters.inc("updates.applied")
        self._record(current, step.digest, "updated", step.reason)
        self._logger.info("updated %s to %s (%s)", current.service, step.digest, step.how)
        for kind_of_problem in ("disk", "pull", "docker"):
            self._problems.forget(kind_of_problem)
        return attempt.but(recorded=True)

    def _hand_over(self, step: plan.HandOver, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._logger.info("successor updater is healthy; removing this container")
        self._calls.remove_container(current.id)  # ends this process; the successor carries on
        return attempt

    def _reject(self, step: plan.Reject, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._bad.mark(current.repository, step.digest)
        if work.new_image_id:
            self._discard(work.new_image_id)
        self._counters.inc(f"updates.{step.result}")
        self._record(current, step.digest, step.result, step.reason)
        log = self._logger.error if step.result == "failed" else self._logger.warning
        log("%s update to %s %s: %s; digest marked bad", current.service, step.digest, step.result.replace("_", " "),
            step.reason)
        return attempt

    def _fail_step(self, step: plan.Fail, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._fail(current, step.digest, step.cause, step.reason)
        return attempt

    def _discard(self, image_id: str) -> None:
        """A rejected image only takes disk; it is never run again (its digest is bad)."""
        try:
            self._calls.remove_image(image_id, force=True)
        except DOCKER_ERRORS as error:
            self._logger.info("kept rejected image %s: %s", image_id[:19], error)

    def _fail(self, current: Running, remote: str, what: str, reason: str) -> None:
        """Count every failed attempt; record it once per (service, digest, cause), so a full disk or a
        flaky link retried every poll does not push the rest out of the bounded history."""
        self._counters.inc("updates.failed")
        if (current.service, remote, what) not in self._recorded_failures:
            self._recorded_failures.add((current.service, remote, what))
            self._record(current, remote, "failed", reason)
        self._problems.report(what, f"{current.service} not updated to {remote}: {reason}", level=logging.ERROR)

    def _record(self, current: Running, remote: str, result: UpdateResult, reason: str) -> None:
        kind: UpdateKind = "updater" if current.service == UPDATER else "service"
        self._history.append(UpdateRecord(kind, current.service, current.digest, remote, result, reason))

    def _write_state(self) -> None:
        services = {}
        for service, current in self._find_running().items():
            env = dict(item.partition("=")[::2] for item in current.image["Config"].get("Env") or [])
            services[service] = RunningService(current.ref, current.digest, env.get("SMARTCAM_VERSION"))
        write_state(self._settings.state_dir / "state.json", services, active_model(self._settings.infer_state_dir))


def state_dir_ready(path: Path) -> None:
    """The state dir is a named volume; without it nothing survives a restart (bad digests, history)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise FatalError(f"state dir {path} is not writable ({error}); mount the updater-state volume there "
                         "(SMARTCAM_STATE_DIR)") from error
