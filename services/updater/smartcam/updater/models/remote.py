"""The channel's remote model manifest: infer's `manifest.json` plus where to get the file.

The updater checks only what it needs to download safely (name, sha256, size, file name, url); the
rest is passed through unchanged and validated by infer when it loads the model, so the two services
never disagree about what a valid manifest is.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urljoin

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartcam.updater.models.errors import ManifestUnavailable

MAX_MANIFEST_BYTES = 64 * 1024


class RemoteModel(BaseModel):
    """One published model. `url` may be absolute or relative to the manifest's own URL."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0)
    model_file: str = Field(min_length=1)
    url: str = Field(min_length=1)

    @field_validator("model_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError(f"{value!r} must be a plain file name, not a path")
        return value

    def local_manifest(self) -> dict[str, Any]:
        """The manifest infer reads: everything published except the download location."""
        return self.model_dump(exclude={"url"})

    @property
    def digest(self) -> str:
        """Identifies this publication (file and manifest), so a corrected manifest counts as new."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()

    def file_url(self, manifest_url: str) -> str:
        return urljoin(manifest_url, self.url)


def fetch_remote_model(session: requests.Session, manifest_url: str, timeout_s: float) -> RemoteModel:
    """GET and validate the manifest, or raise ManifestUnavailable saying what is wrong."""
    try:
        response = session.get(manifest_url, timeout=timeout_s)
        response.raise_for_status()
    except requests.RequestException as error:
        raise ManifestUnavailable(f"cannot fetch model manifest {manifest_url}: {error}") from None
    if len(response.content) > MAX_MANIFEST_BYTES:
        raise ManifestUnavailable(f"model manifest {manifest_url} is over {MAX_MANIFEST_BYTES} bytes; "
                                  "publish a manifest.json, not the model itself")
    try:
        return RemoteModel.model_validate_json(response.content)
    except ValidationError as error:
        problems = "; ".join(f"field {'.'.join(map(str, item['loc'])) or '(top level)'}: {item['msg']}"
                             for item in error.errors())
        raise ManifestUnavailable(f"model manifest {manifest_url} is invalid: {problems}") from None
