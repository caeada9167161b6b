"""The updater's side of the shared models volume.

Layout (infer mounts it read-only)::

    <models_dir>/<sha256>/manifest.json + <model_file>   verified models, one directory each
    <models_dir>/.incoming-<sha256>/                      a download in progress (never read by infer)
    <models_dir>/candidate.json                           the model infer should try next

A model directory appears only by renaming a complete, fsynced `.incoming-` directory, and the
candidate pointer only after that, so infer never sees a partial model.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import requests

from smartcam.common.contracts.model_exchange import (
    CANDIDATE_NAME,
    SHA256_NAME,
    Candidate,
    read_candidate,
    write_candidate,
)
from smartcam.common.files import fsync_directory, write_json_durably
from smartcam.updater.models.download import check_free_space, download_file
from smartcam.updater.models.errors import DownloadFailed
from smartcam.updater.models.http import Heartbeat, UrlCheck
from smartcam.updater.models.remote import RemoteModel

MANIFEST_NAME = "manifest.json"
INCOMING_PREFIX = ".incoming-"


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def stage(self, session: requests.Session, model: RemoteModel, file_url: str, deadline_s: float,
              reserve_bytes: int, *, heartbeat: Heartbeat | None = None, check: UrlCheck | None = None) -> Path:
        """Download and verify `model` into `<root>/<sha256>/`, unless it is already there."""
        final = self.root / model.sha256
        if (final / MANIFEST_NAME).is_file():
            return final
        check_free_space(self.root, model.size_bytes, reserve_bytes)
        incoming = self.root / f"{INCOMING_PREFIX}{model.sha256}"
        shutil.rmtree(incoming, ignore_errors=True)
        try:
            incoming.mkdir()
            download_file(session, file_url, model, incoming / model.model_file, deadline_s, heartbeat=heartbeat,
                          check=check)
            write_json_durably(incoming / MANIFEST_NAME, model.local_manifest())
            shutil.rmtree(final, ignore_errors=True)  # a leftover without a manifest
            incoming.rename(final)
            fsync_directory(self.root)
        except OSError as error:
            raise DownloadFailed(f"cannot stage the model in {self.root}: {error}") from None
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return final

    def publish_candidate(self, model: RemoteModel, from_sha256: str | None) -> Candidate:
        candidate = Candidate(id=uuid.uuid4().hex, name=model.name, sha256=model.sha256, dir=model.sha256,
                              from_sha256=from_sha256, published_at=time.time(), manifest_digest=model.digest)
        write_candidate(self.root, candidate)
        return candidate

    def candidate(self) -> Candidate | None:
        try:
            return read_candidate(self.root)
        except ValueError:  # damaged, foreign, or written by a newer updater before a rollback: offer nothing
            self.clear_candidate()
            return None

    def clear_candidate(self) -> None:
        (self.root / CANDIDATE_NAME).unlink(missing_ok=True)
        fsync_directory(self.root)

    def prune(self, keep: set[str]) -> list[str]:
        """Delete model and download directories not in `keep` (sha256 names); return what was deleted."""
        removed = []
        for path in self.root.iterdir():
            name = path.name
            stale = (SHA256_NAME.match(name) and name not in keep) or name.startswith(INCOMING_PREFIX)
            if stale and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        return removed
