"""The updater's `<state_dir>/state.json`: what each service runs now, for the uploader's heartbeat.

The uploader may not touch the Docker API, so it learns the other services' images, digests and
versions (and infer's active model) from this file, rewritten atomically after every poll round.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from smartcam.common.contracts.base import Document
from smartcam.common.contracts.parts import ModelIdentity, Part


@dataclass(frozen=True, config=ConfigDict(extra="ignore"))
class ServiceVersion:
    """What one service runs (a dataclass, so the updater builds it positionally: image, digest, version)."""

    image: str | None = Field(default=None, description="Image reference the service runs.")
    digest: str | None = Field(default=None, description="Registry digest of that image, if known.")
    version: str | None = Field(default=None, description="SMARTCAM_VERSION baked into the image (git commit).")


class PendingUpdate(Part):
    """An update that is available but waits (for the maintenance window, SMARTCAM_UPDATE_WINDOW)."""

    kind: Literal["service", "updater", "model"]
    target: str = Field(description="The service, or the model's name.")
    to_ref: str = Field(description="The image digest, or the model's sha256, waiting to be applied.")
    reason: str
    opens_at: str | None = Field(default=None, description="When the window opens next, ISO-8601 UTC.")


class UpdaterState(Document):
    services: dict[str, ServiceVersion] = Field(default_factory=dict)
    model: ModelIdentity | None = Field(default=None, description="Infer's active model, as infer reports it.")
    updated_at: str | None = Field(default=None, description="ISO-8601 UTC.")
    pending: list[PendingUpdate] = Field(default_factory=list, description="Updates waiting to be applied.")
