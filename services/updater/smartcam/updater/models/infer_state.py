"""Read infer's report (its active model and its verdict on each candidate) from infer's state volume.

Infer writes `<infer_state_dir>/model-state.json` (`smartcam.common.contracts.model_exchange`); the updater
mounts that volume read-only, so infer's only write access is this small file and the updater cannot forge
a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smartcam.common.contracts.base import DocumentError, DocumentVersionError
from smartcam.common.contracts.model_exchange import ModelVerdict, read_model_state


@dataclass(frozen=True)
class InferReport:
    active_sha256: str | None
    verdicts: dict[str, ModelVerdict]  # by candidate id


def read_infer_report(state_dir: Path) -> InferReport | None:
    """None until infer has written its state (it does so at start-up), or while it is damaged or foreign.

    DocumentVersionError when a newer infer wrote it: the updater must be updated to understand it.
    """
    try:
        document = read_model_state(state_dir)
    except DocumentVersionError:
        raise
    except DocumentError:  # damaged or foreign: as if infer had not reported yet
        return None
    if document is None:
        return None
    return InferReport(document.active.sha256 if document.active else None,
                       {verdict.candidate_id: verdict for verdict in document.verdicts})
