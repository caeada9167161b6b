"""One poll round: find this stack's containers, compare registry digests, update what moved.

Nothing is pulled when the channel tag's digest equals the running image's, or when that digest
already failed its health gate here (kept in `bad-digests.json` until a newer one appears).
Every attempt ends in exactly one history record; every failure is counted and logged once per
kind until it clears.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

from docker.models.containers import Container
from docker.models.images import Image

import docker
from smartcam.common.badlist import BadDigests
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateKind, UpdateRecord, UpdateResult
from smartcam.common.logs import OncePerKind
from smartcam.common.service import FatalError
from smartcam.updater.containers import PREVIOUS_SUFFIX, name_of, pull
from smartcam.updater.images import free_disk_problem, image_id, remove_superseded, repo_digest, split_ref
from smartcam.updater.replace import DOCKER_ERRORS, Outcome, Replacer, Running
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import RunningService, active_model, write_state

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
UPDATER = "updater"
# A predecessor still present this long after this updater started has failed to remove itself.
HANDOVER_GRACE_S = 120.0


class Engine:
    def __init__(self, client: docker.DockerClient, settings: UpdaterSettings, history: UpdateHistory,
                 logger: logging.Logger, counters: Counters, *, heartbeat: Callable[[], None]) -> None:
        self._client = client
        self._settings = settings
        self._logger = logger
        self._counters = counters
        self._problems = OncePerKind(logger, counters, "updates.problem")
        self._history = history
        self._bad = BadDigests(settings.updater_dir / "bad-digests.json")
        self._heartbeat = heartbeat
        self._replacer = Replacer(client, logger, settings.health_timeout_s, heartbeat)
        self._started = time.monotonic()
        self._registry_failures = 0
        self._recorded_failures: set[tuple[str, str, str]] = set()
        self.me = self._own_container()
        self.project = self.me.labels.get(PROJECT_LABEL, "")

    def _own_container(self) -> Container:
        try:
            return self._client.containers.get(socket.gethostname())
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
        reached = True
        for service in [*self._settings.service_names, UPDATER]:
            if service not in running:
                continue
            current = running[service]
            remote = self._remote_digest(current)
            if remote is None:
                reached = False
                break
            if remote != current.digest and not self._known_bad(current, remote):
                self._update(current, remote)
        self._write_state()
        return reached

    # --- discovery -------------------------------------------------------------------------------

    def _find_running(self, *, recover: bool = False) -> dict[str, Running]:
        containers = self._client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})
        by_name = {name_of(c): c for c in containers}
        found: dict[str, Running] = {}
        for container in containers:
            service = container.labels.get(SERVICE_LABEL, "")
            name = name_of(container)
            if name.endswith(PREVIOUS_SUFFIX):
                if recover:
                    self._recover(container, by_name.get(name.removesuffix(PREVIOUS_SUFFIX)), service)
                continue
            ref = container.attrs["Config"]["Image"]
            if service not in [*self._settings.service_names, UPDATER] or not ref.startswith(self._settings.registry):
                continue
            repository, tag = split_ref(ref)
            image = self._client.images.get(container.attrs["Image"])
            found[service] = Running(service, container, ref, repository, tag, image, repo_digest(image, repository))
        return found

    def _recover(self, previous: Container, current: Container | None, service: str) -> None:
        """A `.previous` container outside an update: an update was interrupted (power cut, crash)."""
        name = name_of(previous).removesuffix(PREVIOUS_SUFFIX)
        if service == UPDATER and time.monotonic() - self._started < HANDOVER_GRACE_S:
            return  # our predecessor, still handing over; it removes itself
        if current is None:
            self._logger.warning("found %s without %s (interrupted update); restoring it", name_of(previous), name)
            previous.rename(name)
            previous.start()
            return
        self._logger.warning("removing %s left over from an interrupted update", name_of(previous))
        previous.remove(force=True)

    def _remote_digest(self, current: Running) -> str | None:
        try:
            digest = self._client.images.get_registry_data(current.ref).id
        except DOCKER_ERRORS as error:
            self._registry_failures += 1
            self._problems.report("registry", f"cannot check {current.ref} in the registry ({error}); "
                                  "keeping what runs and retrying later")
            return None
        if self._registry_failures:
            self._logger.info("registry reachable again after %d failed polls", self._registry_failures)
            self._registry_failures = 0
            self._problems.forget("registry")
        return digest

    def _known_bad(self, current: Running, remote: str) -> bool:
        if not self._bad.is_bad(current.repository, remote):
            return False
        self._problems.report(f"bad:{remote}", f"{current.ref} is still at {remote}, which failed here before; "
                              "waiting for a newer one", level=logging.INFO)
        return True

    # --- updating --------------------------------------------------------------------------------

    def _update(self, current: Running, remote: str) -> None:
        kind: UpdateKind = "updater" if current.service == UPDATER else "service"
        needed = int(current.image.attrs.get("Size", 0)) + self._settings.min_free_disk_mb * 2**20
        problem = free_disk_problem(self._settings.updater_dir, needed)
        if problem:
            self._fail(kind, current, remote, "disk", f"not pulled: {problem}")
            return
        self._logger.info("updating %s: %s -> %s", current.service, current.digest or "local build", remote)
        try:
            new_image = pull(self._client, current.repository, remote, self._heartbeat)
            new_image.tag(current.repository, current.tag)
        except DOCKER_ERRORS as error:
            self._fail(kind, current, remote, "pull", f"pull failed: {error}")
            return
        try:
            if kind == "updater":
                self._hand_over(current, new_image, remote)
            else:
                outcome = self._replacer.replace_service(current, new_image)
                self._finish(kind, current, remote, outcome, image_id(new_image))
        except DOCKER_ERRORS as error:
            self._fail(kind, current, remote, "docker", f"update interrupted: {error}")

    def _hand_over(self, me: Running, new_image: Image, remote: str) -> None:
        verdict = self._replacer.self_test(new_image)
        if not verdict.healthy:
            me.image.tag(me.repository, me.tag)
            self._finish("updater", me, remote, Outcome(False, verdict.reason), image_id(new_image), result="rejected")
            return
        outcome = self._replacer.hand_over(me, new_image)
        self._finish("updater", me, remote, outcome, image_id(new_image))
        if outcome.healthy:
            self._logger.info("successor updater is healthy; removing this container")
            me.container.remove(force=True)  # ends this process; the successor carries on

    def _finish(self, kind: UpdateKind, current: Running, remote: str, outcome: Outcome, new_id: str,
                *, result: UpdateResult | None = None) -> None:
        if outcome.healthy:
            self._counters.inc("updates.applied")
            keep = {new_id, image_id(current.image)}
            removed = remove_superseded(self._client, current.repository, keep, self._logger)
            self._record(kind, current, remote, "updated", f"{outcome.reason}; removed {removed} superseded images")
            self._logger.info("updated %s to %s (%s)", current.service, remote, outcome.reason)
            for kind_of_problem in ("disk", "pull", "docker"):
                self._problems.forget(kind_of_problem)
            return
        self._bad.mark(current.repository, remote)
        self._discard(new_id)
        reason = outcome.reason + (f"; {outcome.rollback_problem}" if outcome.rollback_problem else "")
        final: UpdateResult = result or ("failed" if outcome.rollback_problem else "rolled_back")
        self._counters.inc(f"updates.{final}")
        self._record(kind, current, remote, final, reason)
        log = self._logger.error if outcome.rollback_problem else self._logger.warning
        log("%s update to %s %s: %s; digest marked bad", current.service, remote, final.replace("_", " "), reason)

    def _discard(self, image_id: str) -> None:
        """A rejected image only takes disk; it is never run again (its digest is bad)."""
        try:
            self._client.images.remove(image_id, force=True)
        except DOCKER_ERRORS as error:
            self._logger.info("kept rejected image %s: %s", image_id[:19], error)

    def _fail(self, kind: UpdateKind, current: Running, remote: str, what: str, reason: str) -> None:
        """Count every failed attempt; record it once per (service, digest, cause), so a full disk or a
        flaky link retried every poll does not push the rest out of the bounded history."""
        self._counters.inc("updates.failed")
        if (current.service, remote, what) not in self._recorded_failures:
            self._recorded_failures.add((current.service, remote, what))
            self._record(kind, current, remote, "failed", reason)
        self._problems.report(what, f"{current.service} not updated to {remote}: {reason}", level=logging.ERROR)

    def _record(self, kind: UpdateKind, current: Running, remote: str, result: UpdateResult, reason: str) -> None:
        target = UPDATER if kind == "updater" else current.service
        self._history.append(UpdateRecord(kind, target, current.digest, remote, result, reason))

    def _write_state(self) -> None:
        services = {}
        for service, current in self._find_running().items():
            env = dict(item.partition("=")[::2] for item in current.image.attrs["Config"].get("Env") or [])
            services[service] = RunningService(current.ref, current.digest, env.get("SMARTCAM_VERSION"))
        write_state(self._settings.updater_dir / "state.json", services, active_model(self._settings.infer_state_dir))


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
