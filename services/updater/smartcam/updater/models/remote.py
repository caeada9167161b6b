"""The channel's remote model manifest: infer's `manifest.json` plus where to get the file.

The manifest comes from the network, so every field is validated here before anything uses it: the
file name becomes a path on the models volume, the sizes and hash drive the download, the name goes
into logs and the history. Fields only infer understands (decoder, input, labels, thresholds,
decoder_options) are checked for their JSON shape here and in depth by infer when it loads the model;
unknown fields are refused, as infer refuses them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from smartcam.updater.models.errors import ManifestInvalid, ManifestUnavailable
from smartcam.updater.models.http import DeadlineExceeded, Heartbeat, TooLarge, UrlCheck, fetch_capped
from smartcam.updater.models.manifest_signature import check_manifest_signature
from smartcam.updater.origins import OriginRefused

MAX_MANIFEST_BYTES = 64 * 1024  # a manifest is a few hundred bytes; anything near this is not a manifest
MAX_MODEL_BYTES = 16384 * 2**20  # SMARTCAM_MODEL_MAX_MB's ceiling
MAX_PROBLEMS_SHOWN = 5
# Letters, digits, '.', '_', '-', starting with a letter or digit: no path separator, NUL, '..' or hidden file.
SAFE_FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._ +-]{0,127}$"
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (NUL, newlines) in anything logged or stored
URL_CHARS = r"^[!-~]{1,2048}$"  # printable ASCII without spaces
URL_SCHEMES = ("http", "https")

Label = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PRINTABLE)]


class RemoteModel(BaseModel):
    """One published model. `url` may be absolute or relative to the manifest's own URL."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=SAFE_NAME)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0, le=MAX_MODEL_BYTES)
    model_file: str = Field(pattern=SAFE_FILE_NAME)
    url: str = Field(pattern=URL_CHARS)
    decoder: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    input: dict[str, Any]
    labels: list[Label] = Field(default_factory=list, max_length=1000)
    # "embedded": the labels are the labels.txt inside the .tflite (infer checks it). Left out of what is
    # dumped when it is the default, so a manifest without it keeps its digest and its local manifest.
    labels_from: Literal["manifest", "embedded"] = Field("manifest", exclude_if=lambda value: value == "manifest")
    thresholds: dict[str, Any]
    decoder_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_given_once(self) -> RemoteModel:
        if self.labels_from == "manifest" and not self.labels:
            raise ValueError('labels is empty: list the label of each class, or set "labels_from": "embedded"')
        if self.labels_from == "embedded" and self.labels:
            raise ValueError('labels and "labels_from": "embedded" both given; keep one of them')
        return self

    def local_manifest(self) -> dict[str, Any]:
        """The manifest infer reads: everything published except the download location."""
        return self.model_dump(exclude={"url"})

    @property
    def digest(self) -> str:
        """Identifies this publication (file and manifest), so a corrected manifest counts as new."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()

    def file_url(self, manifest_url: str) -> str:
        return urljoin(manifest_url, self.url)


def describe(error: ValidationError) -> str:
    """`field a.b: what is wrong` per problem, the first few only (a hostile manifest can have thousands)."""
    items = error.errors(include_url=False, include_input=False)
    shown = "; ".join(f"field {'.'.join(map(str, item['loc'])) or '(top level)'}: {item['msg']}"
                      for item in items[:MAX_PROBLEMS_SHOWN])
    return shown if len(items) <= MAX_PROBLEMS_SHOWN else f"{shown}; and {len(items) - MAX_PROBLEMS_SHOWN} more"


def parse_manifest(data: bytes, manifest_url: str) -> RemoteModel:
    """Validate the manifest's bytes, or raise ManifestInvalid naming the fields to fix."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        model = RemoteModel.model_validate_json(data)
    except ValidationError as error:
        raise ManifestInvalid("manifest_invalid", f"model manifest {manifest_url} is invalid: {describe(error)}; "
                              "fix it and publish it again", digest) from None
    if urlsplit(model.file_url(manifest_url)).scheme not in URL_SCHEMES:
        raise ManifestInvalid("manifest_invalid", f"model manifest {manifest_url} is invalid: field url: "
                              f"{model.url!r} is not http(s); give an http(s) URL or one relative to the manifest",
                              digest)
    return model


def fetch_remote_model(session: requests.Session, manifest_url: str, deadline_s: float,
                       heartbeat: Heartbeat | None = None, *, check: UrlCheck | None = None,
                       allowed_signers: Path) -> RemoteModel:
    """GET (within `deadline_s`, at most MAX_MANIFEST_BYTES) and validate the manifest, then check its
    signature (parsing first: the parser is built for hostile input, and a malformed manifest is refused
    without a second request).

    A redirect `check` refuses is not followed: the manifest is unavailable (counted and logged, no history).
    """
    data = _fetch_manifest(session, manifest_url, deadline_s, heartbeat, check)
    model = parse_manifest(data, manifest_url)
    try:
        check_manifest_signature(session, manifest_url, data, deadline_s=deadline_s,
                                 allowed_signers=allowed_signers, heartbeat=heartbeat, check=check)
    except ManifestInvalid:
        # A publisher uploads the signature, then the manifest: between the two GETs the old manifest may
        # meet the new signature. A manifest that changed meanwhile is checked again at the next poll.
        if _fetch_manifest(session, manifest_url, deadline_s, heartbeat, check) != data:
            raise ManifestUnavailable("manifest_changed", f"model manifest {manifest_url} changed while its "
                                      "signature was checked; checking it again at the next poll") from None
        raise
    return model


def _fetch_manifest(session: requests.Session, manifest_url: str, deadline_s: float,
                    heartbeat: Heartbeat | None, check: UrlCheck | None) -> bytes:
    try:
        return fetch_capped(session, manifest_url, deadline_s, MAX_MANIFEST_BYTES, heartbeat, check=check)
    except OriginRefused as error:
        raise ManifestUnavailable("manifest_origin", str(error)) from None
    except DeadlineExceeded:
        raise ManifestUnavailable("manifest_deadline", f"model manifest {manifest_url} did not arrive within "
                                  f"{deadline_s:g}s (SMARTCAM_MODEL_MANIFEST_TIMEOUT_S); the server or the "
                                  "link is too slow") from None
    except TooLarge as error:
        raise ManifestInvalid("manifest_too_large", f"model manifest {manifest_url} is over {MAX_MANIFEST_BYTES} "
                              "bytes; publish the manifest.json there, not the model itself",
                              hashlib.sha256(error.head).hexdigest()) from None
    except (requests.RequestException, OSError) as error:
        raise ManifestUnavailable("manifest", f"cannot fetch model manifest {manifest_url}: {error}") from None
