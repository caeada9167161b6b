"""Image references and registry digests."""

from __future__ import annotations

from typing import Any


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
