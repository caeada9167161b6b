"""Fetch an image's signature (cosign's `<repository>:sha256-<hex>.sig` tag) through the Docker daemon and
verify it (signatures.py), before the image itself is pulled.

The daemon does the fetch, as it does the image pulls: it already holds the registry's address, TLS
settings and credentials, and the updater needs no other way to the registry. The signature image has no
layers (a config blob of a few hundred bytes, checked against its digest by the daemon) and is removed
again at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from smartcam.updater.docker_calls import DOCKER_ERRORS, DockerApiError, DockerCalls
from smartcam.updater.plan import Verdict
from smartcam.updater.signatures import SignatureError, check_image, signature_tag


class ImageSignatures:
    def __init__(self, calls: DockerCalls, allowed_signers: Path, heartbeat: Callable[[], None],
                 logger: logging.Logger) -> None:
        self._calls = calls
        self._allowed_signers = allowed_signers
        self._heartbeat = heartbeat
        self._logger = logger

    def check(self, repository: str, digest: str) -> Verdict:
        """Whether `repository@digest` is signed by a trusted key; raises DOCKER_ERRORS when the registry
        cannot be asked (the check is then tried again at the next poll)."""
        ref = f"{repository}:{signature_tag(digest)}"
        try:
            signature_digest = self._calls.registry_digest(ref)
        except DockerApiError as error:
            if error.status != 404:
                raise
            return Verdict(False, f"no signature {ref} in the registry (unsigned release)")
        image = self._calls.pull(repository, signature_digest, self._heartbeat)
        try:
            check_image(dict(image.get("Config", {}).get("Labels") or {}), repository, digest,
                        self._allowed_signers)
        except SignatureError as error:
            return Verdict(False, f"signature {ref} refused: {error}")
        finally:
            self._discard(str(image["Id"]))
        return Verdict(True, f"signed ({ref})")

    def _discard(self, image_id: str) -> None:
        try:
            self._calls.discard_image(image_id)
        except DOCKER_ERRORS as error:
            self._logger.info("kept signature image %s: %s", image_id[:19], error)
