"""Swap a container onto a new image, gated on the new container's own healthcheck, with rollback.

Services: stop the old container (a device may have one camera, so two capture containers must
never run at once), keep it under `<name>.previous`, start the clone on the new image under the
original name, and remove the old one only once the new one is healthy. Otherwise remove the new
one, rename the old one back and start it again.

The updater itself hands over the same way, except that it keeps running while its successor
proves itself, then removes its own container, so exactly one updater remains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from docker.models.containers import Container
from docker.models.images import Image
from requests.exceptions import RequestException

import docker
from smartcam.updater.clone import clone_spec
from smartcam.updater.containers import (
    PREVIOUS_SUFFIX,
    HealthVerdict,
    create,
    name_of,
    run_to_completion,
    wait_healthy,
)
from smartcam.updater.images import image_id

DOCKER_ERRORS = (docker.errors.DockerException, RequestException)
SELF_TEST_TIMEOUT_S = 60.0
SELF_TEST_COMMAND = ["python", "-m", "smartcam.updater", "--self-test"]


@dataclass(frozen=True)
class Running:
    """One compose service's container as found on this device."""

    service: str
    container: Container
    ref: str  # the tag reference compose uses, e.g. 127.0.0.1:5000/smartcam/infer:master
    repository: str
    tag: str
    image: Image
    digest: str | None  # registry digest of the running image, None for a locally built one


@dataclass(frozen=True)
class Outcome:
    healthy: bool
    reason: str
    rollback_problem: str | None = None  # set when even the old container could not be restored


class Replacer:
    def __init__(self, client: docker.DockerClient, logger: logging.Logger, health_timeout_s: float,
                 heartbeat: Callable[[], None]) -> None:
        self._client = client
        self._logger = logger
        self._timeout = health_timeout_s
        self._heartbeat = heartbeat

    def replace_service(self, old: Running, new_image: Image) -> Outcome:
        name = name_of(old.container)
        spec = clone_spec(old.container.attrs, old.image.attrs, old.ref, image_id(new_image))
        started = time.monotonic()
        try:
            old.container.stop(timeout=_stop_timeout(old.container))
            old.container.rename(name + PREVIOUS_SUFFIX)
        except DOCKER_ERRORS as error:
            problem = self._restore(old, name, None, restart_old=True)
            return Outcome(False, f"could not set the old container aside: {error}", problem)
        new, verdict = self._start_clone(name, spec)
        if verdict.healthy:
            old.container.remove(force=True)
            return Outcome(True, f"healthy {time.monotonic() - started:.0f}s after the old container stopped")
        problem = self._restore(old, name, new, restart_old=True)
        return Outcome(False, verdict.reason, problem)

    def self_test(self, new_image: Image) -> HealthVerdict:
        code, output = run_to_completion(self._client, image_id(new_image), SELF_TEST_COMMAND, SELF_TEST_TIMEOUT_S)
        if code == 0:
            return HealthVerdict(True, "self-test passed")
        return HealthVerdict(False, f"self-test failed (exit {code}): {output}")

    def hand_over(self, me: Running, new_image: Image) -> Outcome:
        """Start the successor next to this updater; on success the caller removes this container."""
        name = name_of(me.container)
        spec = clone_spec(me.container.attrs, me.image.attrs, me.ref, image_id(new_image))
        me.container.rename(name + PREVIOUS_SUFFIX)
        new, verdict = self._start_clone(name, spec)
        if verdict.healthy:
            return Outcome(True, "successor healthy")
        problem = self._restore(me, name, new, restart_old=False)
        return Outcome(False, verdict.reason, problem)

    def _start_clone(self, name: str, spec: object) -> tuple[Container | None, HealthVerdict]:
        new = None
        try:
            new = create(self._client, name, spec)  # type: ignore[arg-type]
            new.start()
            return new, wait_healthy(new, self._timeout, self._heartbeat)
        except DOCKER_ERRORS as error:
            return new, HealthVerdict(False, f"could not start the new container: {error}")

    def _restore(self, old: Running, name: str, new: Container | None, *, restart_old: bool) -> str | None:
        """Put the old container and tag back; return what went wrong if that failed too."""
        try:
            if new is not None:
                new.remove(force=True)
            old.container.reload()
            if name_of(old.container) != name:
                old.container.rename(name)
            old.image.tag(old.repository, old.tag)  # compose must not recreate from the bad image either
            if restart_old:
                old.container.start()
                verdict = wait_healthy(old.container, self._timeout, self._heartbeat)
                if not verdict.healthy:
                    return f"restored container is not healthy: {verdict.reason}"
        except DOCKER_ERRORS as error:
            return f"rollback failed: {error}"
        return None


def _stop_timeout(container: Container) -> int:
    return int(container.attrs["Config"].get("StopTimeout") or 10)
