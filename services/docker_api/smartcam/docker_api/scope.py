"""What the updater may name: containers of this compose project, images of this device's registry.

Every name that reaches the Docker SDK has passed one of these checks first; a refusal says which
rule it broke, so the log line explains itself.
"""

from __future__ import annotations

import re
from typing import Any

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PREVIOUS_SUFFIX = ".previous"  # the old container's name while its replacement proves itself
SERVICE_NAME = r"[a-z0-9][a-z0-9-]{0,63}"
CONTAINER_REF = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"  # a container's name, id or id prefix
IMAGE_ID = r"sha256:[0-9a-f]{64}"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


class RefusedError(Exception):
    """A request outside the policy: answered with `status` and this message, logged, counted."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def name_of(container: dict[str, Any]) -> str:
    """The name in a container's inspect output."""
    return str(container["Name"]).lstrip("/")


def labels_of(container: dict[str, Any]) -> dict[str, str]:
    return dict((container.get("Config") or {}).get("Labels") or {})


def split_ref(ref: str) -> tuple[str, str]:
    """`127.0.0.1:5000/smartcam/infer:master` -> (`127.0.0.1:5000/smartcam/infer`, `master`); `@` splits a digest."""
    if "@" in ref:
        repository, _, digest = ref.partition("@")
        return repository, digest
    repository, _, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        return ref, "latest"
    return repository, tag


class Repositories:
    """The repositories of this device's images: `<SMARTCAM_REGISTRY>smartcam/<service>`, nothing else."""

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self._pattern = re.compile(re.escape(registry) + "smartcam/" + SERVICE_NAME)

    def check(self, repository: str) -> str:
        if not self.registry:
            raise RefusedError(403, "image operations are off: SMARTCAM_REGISTRY is empty (images are built locally)")
        if not self._pattern.fullmatch(repository):
            raise RefusedError(403, f"repository {repository!r} is not one of this device's: only "
                               f"{self.registry}smartcam/<service> (lower-case letters, digits, '-') is allowed")
        return repository

    def allowed(self, repository: str) -> bool:
        return bool(self.registry) and self._pattern.fullmatch(repository) is not None

    def of_image(self, image: dict[str, Any]) -> set[str]:
        """The allowed repositories an image (inspect output) is tagged in or was pulled from."""
        refs = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
        return {repository for repository in (split_ref(ref)[0] for ref in refs) if self.allowed(repository)}
