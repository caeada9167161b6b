"""Image references, registry digests, the free-disk check before a pull, and removing superseded images."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from docker.models.images import Image

import docker


def split_ref(ref: str) -> tuple[str, str]:
    """`127.0.0.1:5000/smartcam/infer:master` -> (`127.0.0.1:5000/smartcam/infer`, `master`)."""
    repository, _, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        return ref, "latest"
    return repository, tag


def image_id(image: Image) -> str:
    """The image's id (`sha256:...`): the SDK types it as optional, but the daemon always reports one."""
    if image.id is None:
        raise docker.errors.DockerException(f"the Docker daemon reported image {image.short_id!r} without an id")
    return image.id


def repo_digest(image: Image, repository: str) -> str | None:
    """The registry digest this local image was pulled as from `repository`, if any."""
    item: str
    for item in image.attrs.get("RepoDigests") or []:
        repo, _, digest = item.partition("@")
        if repo == repository:
            return digest
    return None


def free_disk_problem(state_dir: Path, needed_bytes: int) -> str | None:
    """Why a pull should not start, or None.

    The state dir is a named volume, which Docker keeps on the same filesystem as its images
    (/var/lib/docker), so its free space is the space a pull can use.
    """
    free = shutil.disk_usage(state_dir).free
    if free >= needed_bytes:
        return None
    return f"only {free // 2**20} MiB free where images are stored, {needed_bytes // 2**20} MiB needed"


def remove_superseded(client: docker.DockerClient, repository: str, keep: set[str], logger: logging.Logger) -> int:
    """Remove this repository's images other than `keep` (current and previous) and unused by any container."""
    in_use = {c.attrs["Image"] for c in client.containers.list(all=True)}
    removed = 0
    for image in client.images.list(name=repository):
        if image.id in keep or image.id in in_use:
            continue
        try:
            client.images.remove(image_id(image), force=False, noprune=False)
            removed += 1
        except docker.errors.APIError as error:  # e.g. a child image of a test build; not worth failing over
            logger.info("kept superseded image %s: %s", image.short_id, error.explanation)
    return removed
