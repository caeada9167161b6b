"""The two small files through which the updater offers a model and infer answers.

The updater writes `candidate.json` into the shared models volume (infer mounts it read-only);
infer writes `model-state.json` into its own small state volume (the updater mounts it read-only,
so the updater cannot forge a verdict).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartcam.common.contracts.base import Document, read_document, write_document

CANDIDATE_NAME = "candidate.json"
STATE_NAME = "model-state.json"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Model directories in the store are named by the model's sha256; nothing else is ever followed.
SHA256_NAME = re.compile(SHA256_PATTERN)
VerdictResult = Literal["accepted", "rejected"]


class Candidate(Document):
    """The offer infer polls: `id` is new for every publication, so a model can be offered again later."""

    id: str
    name: str
    sha256: str
    # Directory name under the models volume: the model's sha256; nothing else is ever followed.
    dir: str = Field(pattern=SHA256_PATTERN)
    from_sha256: str | None
    published_at: float  # wall clock, so a pending offer's age survives a restart
    manifest_digest: str  # which publication it came from


class ActiveModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    sha256: str
    dir: str  # where infer loads it from


class ModelVerdict(BaseModel):
    """Infer's answer to one offer."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: str
    name: str = ""  # absent in verdicts written before it was added
    sha256: str
    result: VerdictResult
    reason: str
    replaced: str | None = None  # sha256 of the model infer was serving before
    at: float | None = None


class ModelStateDocument(Document):
    active: ActiveModel | None = Field(default=None, description="The model infer serves; None: the built-in one.")
    verdicts: list[ModelVerdict] = Field(default_factory=list, description="Newest last.")


def write_candidate(store_dir: Path, candidate: Candidate) -> None:
    write_document(store_dir / CANDIDATE_NAME, candidate)


def read_candidate(store_dir: Path) -> Candidate | None:
    """The current offer; None when there is none. DocumentError (a ValueError) when damaged, foreign or newer."""
    return read_document(Candidate, store_dir / CANDIDATE_NAME)


def write_model_state(state_dir: Path, state: ModelStateDocument) -> None:
    write_document(state_dir / STATE_NAME, state)


def read_model_state(state_dir: Path) -> ModelStateDocument | None:
    """Infer's report; None until infer wrote it. DocumentError (a ValueError) when damaged, foreign or newer."""
    return read_document(ModelStateDocument, state_dir / STATE_NAME)
