"""Read infer's report (its active model and its verdict on each candidate) from infer's state volume.

Infer writes `<infer_state_dir>/model-state.json`; the updater mounts that volume read-only, so
infer's only write access is this small file and the updater cannot forge a verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from smartcam.common.model_exchange import STATE_NAME


@dataclass(frozen=True)
class Verdict:
    candidate_id: str
    sha256: str
    result: str  # "accepted" or "rejected"
    reason: str
    replaced: str | None  # sha256 of the model infer was serving before


@dataclass(frozen=True)
class InferReport:
    active_sha256: str | None
    verdicts: dict[str, Verdict]  # by candidate id


def read_infer_report(state_dir: Path) -> InferReport | None:
    """None until infer has written its state (it does so at start-up)."""
    try:
        document = json.loads((state_dir / STATE_NAME).read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        active = document.get("active") or {}
        verdicts = {}
        for item in document.get("verdicts", []):
            verdict = Verdict(str(item["candidate_id"]), str(item["sha256"]), str(item["result"]),
                              str(item["reason"]), item.get("replaced"))
            verdicts[verdict.candidate_id] = verdict
        return InferReport(active.get("sha256"), verdicts)
    except (AttributeError, KeyError, TypeError):  # damaged or foreign: as if infer had not reported yet
        return None
