"""The two small files through which the updater offers a model and infer answers.

The updater writes `candidate.json` into the shared models volume (infer mounts it read-only);
infer writes `model-state.json` into its own small state volume (the updater mounts it
read-only). Both sides use these definitions, so the format lives in one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from smartcam.common.files import write_json_durably

CANDIDATE_NAME = "candidate.json"
STATE_NAME = "model-state.json"
# Model directories in the store are named by the model's sha256; nothing else is ever followed.
SHA256_NAME = re.compile(r"^[0-9a-f]{64}$")

@dataclass(frozen=True)
class Candidate:
    """The offer infer polls: `id` is new for every publication, so a model can be offered again later."""

    id: str
    name: str
    sha256: str
    dir: str  # directory name under the models volume (its sha256)
    from_sha256: str | None
    published_at: float  # wall clock, so a pending offer's age survives a restart
    manifest_digest: str  # which publication it came from


def write_candidate(store_dir: Path, candidate: Candidate) -> None:
    write_json_durably(store_dir / CANDIDATE_NAME, asdict(candidate))


def read_candidate(store_dir: Path) -> Candidate | None:
    """The current offer; None when there is none. ValueError when the file is damaged or foreign."""
    try:
        document = json.loads((store_dir / CANDIDATE_NAME).read_text())
    except FileNotFoundError:
        return None
    try:
        candidate = Candidate(**document)
    except TypeError as error:
        raise ValueError(f"{store_dir / CANDIDATE_NAME} is not a model offer: {error}") from None
    if not SHA256_NAME.match(candidate.dir):
        raise ValueError(f"{store_dir / CANDIDATE_NAME} names directory {candidate.dir!r}, not a sha256")
    return candidate

