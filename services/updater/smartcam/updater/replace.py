"""The container effects of an update: set the old container aside, start its clone on the new image,
wait for the clone's health, remove the old one, or put it back; the new updater's self-test.

Services stop before their clone starts (a device may have one camera: two capture containers must
never run at once); the updater keeps running while its successor proves itself. Which of these
happen, in which order, is decided in plan.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcam.updater.containers import PREVIOUS_SUFFIX, name_of, wait_healthy
from smartcam.updater.docker_calls import DOCKER_ERRORS, DockerCalls
from smartcam.updater.plan import Verdict


@dataclass(frozen=True)
class Running:
    """One compose service's container as found on this device (inspect output of it and its image)."""

    service: str
    container: dict[str, Any]
    ref: str  # the tag reference compose uses, e.g. 127.0.0.1:5000/smartcam/infer:master
    repository: str
    tag: str
    image: dict[str, Any]
    digest: str | None  # registry digest of the running image, None for a locally built one

    @property
    def id(self) -> str:
        return str(self.container["Id"])

    @property
    def name(self) -> str:
        return name_of(self.container)

    @property
    def image_id(self) -> str:
        return str(self.image["Id"])


class Replacer:
    def __init__(self, calls: DockerCalls, logger: logging.Logger, health_timeout_s: float,
                 heartbeat: Callable[[], None]) -> None:
        self._calls = calls
        self._logger = logger
        self._timeout = health_timeout_s
        self._heartbeat = heartbeat

    def set_aside(self, old: Running, *, stop: bool) -> None:
        if stop:
            self._calls.stop(old.id, int(old.container["Config"].get("StopTimeout") or 10))
        self._calls.rename(old.id, old.name + PREVIOUS_SUFFIX)

    def start_new(self, old: Running, new_image_id: str) -> tuple[str | None, Verdict | None]:
        """The new container's id (None if not even created) and, if it could not be started, why."""
        new = None
        try:  # docker-api builds the clone from the old container; only the image differs
            new = self._calls.replace(old.id, new_image_id)
            self._calls.start(new)
        except DOCKER_ERRORS as error:
            return new, Verdict(False, f"could not start the new container: {error}")
        return new, None

    def wait_healthy(self, new: str) -> Verdict:
        try:
            return wait_healthy(self._calls, new, self._timeout, self._heartbeat)
        except DOCKER_ERRORS as error:
            return Verdict(False, f"could not start the new container: {error}")

    def remove(self, container: str) -> None:
        self._calls.remove_container(container)

    def restore(self, old: Running, new: str | None, *, restart_old: bool) -> str | None:
        """Put the old container and tag back; return what went wrong if that failed too."""
        try:
            if new is not None:
                self._calls.remove_container(new)
            if name_of(self._calls.inspect_container(old.id)) != old.name:
                self._calls.rename(old.id, old.name)
            # compose must not recreate from the bad image either
            self._calls.tag(old.image_id, old.repository, old.tag)
            if restart_old:
                self._calls.start(old.id)
                verdict = wait_healthy(self._calls, old.id, self._timeout, self._heartbeat)
                if not verdict.healthy:
                    return f"restored container is not healthy: {verdict.reason}"
        except DOCKER_ERRORS as error:
            return f"rollback failed: {error}"
        return None

    def self_test(self, new_image_id: str) -> Verdict:
        try:
            code, output = self._calls.self_test(new_image_id)
        except DOCKER_ERRORS as error:
            return Verdict(False, f"self-test could not run: {error}")
        if code == 0:
            return Verdict(True, "self-test passed")
        return Verdict(False, f"self-test failed (exit {code}): {output}")
