"""The operations an update needs, each checked against the project and registry before Docker sees it.

Containers: only this compose project's (label com.docker.compose.project), never docker-api's own.
A new container is always the clone of an existing project container on another image of the same
repository (clone.py builds the create request from its inspect output); the caller names only the
container and the image id. Images: only `<registry>smartcam/<service>`, pulled by digest.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from docker.errors import APIError, NotFound

import docker
from smartcam.docker_api.clone import clone_spec
from smartcam.docker_api.scope import (
    PREVIOUS_SUFFIX,
    PROJECT_LABEL,
    RefusedError,
    Repositories,
    labels_of,
    name_of,
    split_ref,
)
from smartcam.docker_api.views import container_view, image_view

API_VERSION = "1.41"  # Docker 20.10: what Raspberry Pi OS bullseye ships and later
SELF_TEST_TIMEOUT_S = 60
SELF_TEST_COMMAND = ["python", "-m", "smartcam.updater", "--self-test"]
SELF_TEST_LABEL = "smartcam.updater.throwaway"
Json = dict[str, Any]


class Operations:
    def __init__(self, api: docker.APIClient, project: str, repositories: Repositories, own_id: str,
                 logger: logging.Logger) -> None:
        self._api = api
        self.project = project
        self._repositories = repositories
        self.own_id = own_id
        self._logger = logger

    @classmethod
    def connect(cls, socket_url: str, project: str, registry: str, own_id: str,
                logger: logging.Logger) -> Operations:
        api = docker.APIClient(base_url=socket_url, version=API_VERSION, timeout=120)
        return cls(api, project, Repositories(registry), own_id, logger)

    def inspect_own(self, hostname: str) -> Json | None:
        """docker-api's own container (its hostname is its short id), None when not in a container."""
        try:
            return dict(self._api.inspect_container(hostname))
        except NotFound:
            return None

    # --- containers of this project -----------------------------------------------------------

    def containers(self) -> list[Json]:
        summaries = self._api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})
        found = []
        for summary in summaries:
            try:
                found.append(container_view(self._project_container(summary["Id"])))
            except RefusedError:  # removed (or relabelled) between the list and the inspect
                continue
        return found

    def container(self, ref: str) -> Json:
        return container_view(self._project_container(ref))

    def start(self, ref: str) -> None:
        self._api.start(self._changeable(ref)["Id"])

    def stop(self, ref: str, timeout_s: int) -> None:
        self._api.stop(self._changeable(ref)["Id"], timeout=timeout_s)

    def rename(self, ref: str, name: str) -> None:
        """Only to its own name or its own name + `.previous`: setting aside and putting back."""
        container = self._changeable(ref)
        base = name_of(container).removesuffix(PREVIOUS_SUFFIX)
        if name not in (base, base + PREVIOUS_SUFFIX):
            raise RefusedError(403, f"{name_of(container)} may be renamed only to {base} or {base}{PREVIOUS_SUFFIX}, "
                               f"not {name!r}")
        self._api.rename(container["Id"], name)

    def remove(self, ref: str) -> None:
        self._api.remove_container(self._changeable(ref)["Id"], force=True)

    def replace(self, ref: str, image_id: str) -> str:
        """Create the clone of project container `ref` on image `image_id`, named as `ref` before it was set
        aside; connect its networks; the new container's id (not started)."""
        old = self._changeable(ref)
        ref_of_old = str(old["Config"]["Image"])
        repository = split_ref(ref_of_old)[0]
        if repository not in self._repositories_of(self._image(image_id)):
            raise RefusedError(403, f"image {image_id} is not an image of {repository}, which {name_of(old)} runs")
        old_image = self._api.inspect_image(old["Image"])
        spec = clone_spec(old, old_image, ref_of_old, image_id)
        name = name_of(old).removesuffix(PREVIOUS_SUFFIX)
        new_id = str(self._api.create_container_from_config(spec.body, name)["Id"])
        for network, endpoint in spec.extra_networks.items():
            ipam = endpoint.get("IPAMConfig") or {}
            self._api.connect_container_to_network(new_id, network, aliases=endpoint.get("Aliases"),
                                                   ipv4_address=ipam.get("IPv4Address"),
                                                   ipv6_address=ipam.get("IPv6Address"))
        self._logger.info("created %s: clone of %s on %s", new_id[:12], name_of(old), image_id[:19])
        return new_id

    def self_test(self, image_id: str) -> tuple[int, str]:
        """Run the updater's self-test in a throwaway, locked-down, offline container of an updater image."""
        repository = self._repositories.check(f"{self._repositories.registry}smartcam/updater")
        if repository not in self._repositories_of(self._image(image_id)):
            raise RefusedError(403, f"image {image_id} is not an image of {repository}; only updater images self-test")
        config = {"Image": image_id, "Cmd": SELF_TEST_COMMAND, "User": "10001:10001",
                  "Labels": {SELF_TEST_LABEL: "self-test"}, "HostConfig": {
                      "ReadonlyRootfs": True, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges:true"],
                      "NetworkMode": "none", "Tmpfs": {"/run/smartcam": "size=1m,uid=10001,gid=10001"}}}
        container = str(self._api.create_container_from_config(
            config, f"smartcam-updater-selftest-{uuid.uuid4().hex[:8]}")["Id"])
        try:
            self._api.start(container)
            try:
                code = int(self._api.wait(container, timeout=SELF_TEST_TIMEOUT_S).get("StatusCode", -1))
            except Exception as error:  # requests' read timeout: the self-test hung
                return -1, f"self-test did not finish within {SELF_TEST_TIMEOUT_S}s ({error})"
            output = bytes(self._api.logs(container, stdout=True, stderr=True)).decode(errors="replace")
            return code, output.strip()[-500:]
        finally:
            self._api.remove_container(container, force=True)

    def _project_container(self, ref: str) -> Json:
        try:
            container = dict(self._api.inspect_container(ref))
        except NotFound:
            raise RefusedError(404, f"no container {ref!r} in project {self.project}") from None
        if labels_of(container).get(PROJECT_LABEL) != self.project:
            raise RefusedError(404, f"no container {ref!r} in project {self.project}")  # others do not exist here
        return container

    def _changeable(self, ref: str) -> Json:
        container = self._project_container(ref)
        if container["Id"] == self.own_id:
            raise RefusedError(403, "docker-api's own container is not changed through docker-api")
        return container

    # --- images of this device's registry -----------------------------------------------------

    def image(self, image_id: str) -> Json:
        return image_view(self._image(image_id))

    def registry_digest(self, repository: str, tag: str) -> str:
        """The digest `repository:tag` points at in the registry (the daemon asks it)."""
        self._repositories.check(repository)
        return str(self._api.inspect_distribution(f"{repository}:{tag}")["Descriptor"]["digest"])

    def pull(self, repository: str, digest: str) -> Iterator[Json]:
        """Pull `repository@digest` (checked now): progress lines, then {"image": view}."""
        self._repositories.check(repository)
        return self._pull(repository, digest)

    def _pull(self, repository: str, digest: str) -> Iterator[Json]:
        for progress in self._api.pull(repository, tag=digest, stream=True, decode=True):
            if "error" in progress:
                raise RefusedError(502, f"pull of {repository}@{digest}: {progress['error']}")
            yield {"status": str(progress.get("status", ""))[:200]}
        yield {"image": image_view(self._api.inspect_image(f"{repository}@{digest}"))}

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        """Tag an image in a repository it came from (the channel tag compose uses)."""
        self._repositories.check(repository)
        if repository not in self._repositories_of(self._image(image_id)):
            raise RefusedError(403, f"image {image_id} is not an image of {repository}; it cannot be tagged there")
        self._api.tag(image_id, repository, tag)

    def discard(self, image_id: str) -> list[str]:
        """Remove a rejected image's references in this device's repositories (others are not ours); the
        image goes with its last reference. RefusedError while any container uses it."""
        image = self._image(image_id)
        if image_id in self._images_in_use():
            raise RefusedError(409, f"image {image_id} is used by a container; it is not removed")
        refs = [ref for ref in [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
                if self._repositories.allowed(split_ref(ref)[0])]
        for ref in refs:
            self._api.remove_image(ref, noprune=False)
        return refs

    def note(self, message: str) -> None:
        self._logger.info("%s", message)

    def prune(self, repository: str, keep: set[str], note: Callable[[str], None]) -> int:
        """Remove `repository`'s images other than `keep` and unused by any container; how many went."""
        self._repositories.check(repository)
        in_use = self._images_in_use()
        removed = 0
        for image in self._api.images(name=repository):
            if image["Id"] in keep or image["Id"] in in_use:
                continue
            try:
                self._api.remove_image(image["Id"], force=False, noprune=False)
                removed += 1
            except APIError as error:  # e.g. a child image of a test build; not worth failing over
                note(f"kept superseded image {image['Id'][7:19]}: {error.explanation}")
        return removed

    def _image(self, image_id: str) -> Json:
        try:
            image = dict(self._api.inspect_image(image_id))
        except NotFound:
            raise RefusedError(404, f"no image {image_id}") from None
        if not self._repositories_of(image):
            raise RefusedError(404, f"no image {image_id} of {self._repositories.registry or '(no registry)'}smartcam/")
        return image

    def _repositories_of(self, image: Json) -> set[str]:
        """The allowed repositories `image` is tagged in or was pulled from, or that a project container
        running it names (a local build whose tag moved on, which a rollback tags again)."""
        found = self._repositories.of_image(image)
        for summary in self._api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}):
            if summary.get("ImageID") != image["Id"]:
                continue
            try:  # the summary shows the image id once the tag moved on; the container's config keeps the name
                repository = split_ref(str(self._project_container(summary["Id"])["Config"]["Image"]))[0]
            except RefusedError:
                continue
            if self._repositories.allowed(repository):
                found.add(repository)
        return found

    def _images_in_use(self) -> set[str]:
        return {str(c["ImageID"]) for c in self._api.containers(all=True)}
