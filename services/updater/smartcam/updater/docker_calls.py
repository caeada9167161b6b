"""Every call the updater makes to the Docker API, and nothing else: the docker-api allow-list
(services/docker_api/haproxy.cfg) lets through exactly these (tests/unit/updater/test_docker_calls.py).

Public docker SDK API only, on its low-level client, with plain JSON in and out, so the rest of the
updater never holds SDK objects and this one class can be pointed at another API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docker.errors import APIError
from requests.exceptions import RequestException

import docker
from smartcam.updater.clone import ContainerSpec

__all__ = ["API_VERSION", "DOCKER_ERRORS", "APIError", "DockerCalls"]

API_VERSION = "1.41"  # Docker 20.10; pinned so the allow-list sees stable paths
DOCKER_ERRORS = (docker.errors.DockerException, RequestException)
Json = dict[str, Any]


class DockerCalls:
    def __init__(self, api: docker.APIClient) -> None:
        self._api = api

    @classmethod
    def connect(cls, docker_host: str, timeout_s: int = 120) -> DockerCalls:
        return cls(docker.APIClient(base_url=docker_host, version=API_VERSION, timeout=timeout_s))

    # --- containers ----------------------------------------------------------------------------

    def list_containers(self, label: str | None = None) -> list[Json]:
        """Summaries (Id, Names, Image, ImageID, Labels) of all containers, running or not."""
        return list(self._api.containers(all=True, filters={"label": label} if label else None))

    def inspect_container(self, name_or_id: str) -> Json:
        return dict(self._api.inspect_container(name_or_id))

    def create_container(self, name: str, spec: ContainerSpec) -> str:
        """Create exactly `spec` (no SDK re-derivation of fields), connect its other networks; its id."""
        container_id = str(self._api.create_container_from_config(spec.body, name)["Id"])
        for network, endpoint in spec.extra_networks.items():
            ipam = endpoint.get("IPAMConfig") or {}
            self._api.connect_container_to_network(container_id, network, aliases=endpoint.get("Aliases"),
                                                   ipv4_address=ipam.get("IPv4Address"),
                                                   ipv6_address=ipam.get("IPv6Address"))
        return container_id

    def start(self, container: str) -> None:
        self._api.start(container)

    def stop(self, container: str, timeout_s: int) -> None:
        self._api.stop(container, timeout=timeout_s)

    def rename(self, container: str, name: str) -> None:
        self._api.rename(container, name)

    def remove_container(self, container: str) -> None:
        self._api.remove_container(container, force=True)

    def wait(self, container: str, timeout_s: float) -> int:
        """The exit code once the container stopped; raises (a requests timeout) after `timeout_s`."""
        return int(self._api.wait(container, timeout=int(timeout_s)).get("StatusCode", -1))

    def logs(self, container: str) -> str:
        return bytes(self._api.logs(container, stdout=True, stderr=True)).decode(errors="replace")

    # --- images --------------------------------------------------------------------------------

    def inspect_image(self, name_or_id: str) -> Json:
        return dict(self._api.inspect_image(name_or_id))

    def list_images(self, repository: str) -> list[Json]:
        return list(self._api.images(name=repository))

    def registry_digest(self, ref: str) -> str:
        """The digest `ref` (a tag) points at in its registry; the daemon asks the registry."""
        return str(self._api.inspect_distribution(ref)["Descriptor"]["digest"])

    def pull(self, repository: str, digest: str, heartbeat: Callable[[], None]) -> Json:
        """Pull `repository@digest`, calling `heartbeat` on each progress line; the pulled image."""
        for progress in self._api.pull(repository, tag=digest, stream=True, decode=True):
            heartbeat()
            if "error" in progress:
                raise APIError(f"pull of {repository}@{digest}: {progress['error']}")
        return self.inspect_image(f"{repository}@{digest}")

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._api.tag(image, repository, tag)

    def remove_image(self, image: str, *, force: bool) -> None:
        self._api.remove_image(image, force=force, noprune=False)
