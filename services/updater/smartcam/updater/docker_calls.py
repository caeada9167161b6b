"""Every call the updater makes to Docker, and nothing else: requests to the docker-api service, which
offers only the operations an update needs (services/docker_api/smartcam/docker_api/routes.py;
tests/unit/updater/test_docker_calls.py checks that each route is used here and nothing else is sent).

Plain JSON in and out. The create request of a replacement is built on docker-api's side from the
container it replaces; from here only a container and an image id are named.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

__all__ = ["DOCKER_ERRORS", "DockerApiError", "DockerCalls"]

Json = dict[str, Any]
SELF_TEST_WAIT_S = 120  # docker-api gives the self-test 60 s, plus creating and removing its container


class DockerApiError(Exception):
    """docker-api refused a request or Docker failed it; the message is docker-api's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


DOCKER_ERRORS = (DockerApiError, requests.RequestException)


class DockerCalls:
    def __init__(self, base_url: str, timeout_s: float = 120) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s
        self._session = requests.Session()

    @classmethod
    def connect(cls, docker_host: str, timeout_s: float = 120) -> DockerCalls:
        return cls(docker_host, timeout_s)

    # --- containers of this project ------------------------------------------------------------

    def list_containers(self) -> list[Json]:
        """This compose project's containers, running or not (Id, Name, Image, State, Config.Image/Labels)."""
        return list(self._call("GET", "/containers"))

    def inspect_container(self, name_or_id: str) -> Json:
        return dict(self._call("GET", f"/containers/{name_or_id}"))

    def replace(self, container: str, image_id: str) -> str:
        """Create the clone of `container` (set aside as `<name>.previous`) on `image_id`, under its name; its id."""
        return str(self._call("POST", f"/containers/{container}/replace", {"image": image_id})["Id"])

    def start(self, container: str) -> None:
        self._call("POST", f"/containers/{container}/start")

    def stop(self, container: str, timeout_s: int) -> None:
        self._call("POST", f"/containers/{container}/stop", {"timeout_s": timeout_s},
                   timeout_s=self._timeout + timeout_s)

    def rename(self, container: str, name: str) -> None:
        self._call("POST", f"/containers/{container}/rename", {"name": name})

    def remove_container(self, container: str) -> None:
        self._call("DELETE", f"/containers/{container}")

    def self_test(self, image_id: str) -> tuple[int, str]:
        """Run the updater self-test in a throwaway container of `image_id`: (exit code, output)."""
        result = self._call("POST", "/self-test", {"image": image_id}, timeout_s=SELF_TEST_WAIT_S)
        return int(result["exit_code"]), str(result["output"])

    # --- images of this device's registry ------------------------------------------------------

    def inspect_image(self, image_id: str) -> Json:
        return dict(self._call("GET", f"/images/{image_id}"))

    def registry_digest(self, ref: str) -> str:
        """The digest `ref` (repository:tag) points at in its registry; the daemon asks the registry."""
        repository, _, tag = ref.rpartition(":")
        return str(self._call("POST", "/images/registry-digest", {"repository": repository, "tag": tag})["digest"])

    def pull(self, repository: str, digest: str, heartbeat: Callable[[], None]) -> Json:
        """Pull `repository@digest`, calling `heartbeat` on each progress line; the pulled image."""
        with self._session.post(f"{self._base}/images/pull", json={"repository": repository, "digest": digest},
                                stream=True, timeout=self._timeout) as response:
            _raise_for(response)
            for line in response.iter_lines():
                heartbeat()
                if not line:
                    continue
                progress = json.loads(line)
                if "error" in progress:
                    raise DockerApiError(502, f"pull of {repository}@{digest}: {progress['error']}")
                if "image" in progress:
                    return dict(progress["image"])
        raise DockerApiError(502, f"pull of {repository}@{digest}: docker-api closed the stream before the end")

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._call("POST", f"/images/{image}/tag", {"repository": repository, "tag": tag})

    def discard_image(self, image: str) -> None:
        """Remove a rejected image (its references in this device's repositories)."""
        self._call("DELETE", f"/images/{image}")

    def prune_images(self, repository: str, keep: set[str]) -> int:
        """Remove `repository`'s images other than `keep` and unused by any container; how many went."""
        return int(self._call("POST", "/images/prune", {"repository": repository, "keep": sorted(keep)})["removed"])

    def _call(self, method: str, path: str, body: Json | None = None, *, timeout_s: float | None = None) -> Any:
        response = self._session.request(method, f"{self._base}{path}", json=body,
                                         timeout=timeout_s or self._timeout)
        _raise_for(response)
        return response.json()


def _raise_for(response: requests.Response) -> None:
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text[:300]
        raise DockerApiError(response.status_code, message)
