"""Image references, registry digests, and removing superseded images."""

from __future__ import annotations

import logging
from typing import Any

from smartcam.updater.docker_calls import APIError, DockerCalls


def split_ref(ref: str) -> tuple[str, str]:
    """`127.0.0.1:5000/smartcam/infer:master` -> (`127.0.0.1:5000/smartcam/infer`, `master`)."""
    repository, _, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        return ref, "latest"
    return repository, tag


def repo_digest(image: dict[str, Any], repository: str) -> str | None:
    """The registry digest this local image (inspect output) was pulled as from `repository`, if any."""
    item: str
    for item in image.get("RepoDigests") or []:
        repo, _, digest = item.partition("@")
        if repo == repository:
            return digest
    return None


def remove_superseded(calls: DockerCalls, repository: str, keep: set[str], logger: logging.Logger) -> int:
    """Remove this repository's images other than `keep` (current and previous) and unused by any container."""
    in_use = {c["ImageID"] for c in calls.list_containers()}
    removed = 0
    for image in calls.list_images(repository):
        if image["Id"] in keep or image["Id"] in in_use:
            continue
        try:
            calls.remove_image(image["Id"], force=False)
            removed += 1
        except APIError as error:  # e.g. a child image of a test build; not worth failing over
            logger.info("kept superseded image %s: %s", image["Id"][7:19], error.explanation)
    return removed
