"""infer's model state file: the model it serves (so a restart keeps it) and its verdict on each candidate.

Lives in infer's only writable volume (`SMARTCAM_INFER_STATE_DIR`); the updater reads it to record
the outcome in the update history. Written atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from smartcam.common.files import write_json_durably
from smartcam.common.model_exchange import STATE_NAME
from smartcam.common.wire import ModelRef

KEEP_VERDICTS = 20
VerdictResult = Literal["accepted", "rejected"]


@dataclass(frozen=True)
class ActiveModel:
    name: str
    sha256: str
    dir: str


class ModelState:
    """Loaded once at start-up, then updated and saved by this process only."""

    def __init__(self, state_dir: Path, logger: logging.Logger) -> None:
        self._path = state_dir / STATE_NAME
        self._logger = logger
        self.active: ActiveModel | None = None
        self._verdicts: list[dict[str, Any]] = []
        try:
            document = json.loads(self._path.read_text())
            self.active = ActiveModel(**document["active"]) if document.get("active") else None
            self._verdicts = list(document.get("verdicts", []))[-KEEP_VERDICTS:]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError) as error:
            logger.warning("model state %s is unreadable (%s); starting from the built-in model", self._path, error)

    def has_verdict(self, candidate_id: str) -> bool:
        return any(item["candidate_id"] == candidate_id for item in self._verdicts)

    def serving(self, model: ModelRef, model_dir: Path) -> None:
        self.active = ActiveModel(model.name, model.sha256, str(model_dir))
        self._save()

    def accepted(self, candidate_id: str, model: ModelRef, model_dir: Path, reason: str, replaced: ModelRef) -> None:
        """Serve `model` from now on and say so, in one atomic write (a crash leaves both or neither)."""
        self.active = ActiveModel(model.name, model.sha256, str(model_dir))
        self._add_verdict(candidate_id, model, "accepted", reason, replaced)

    def rejected(self, candidate_id: str, model: ModelRef, reason: str, serving: ModelRef) -> None:
        self._add_verdict(candidate_id, model, "rejected", reason, serving)

    def _add_verdict(self, candidate_id: str, model: ModelRef, result: VerdictResult, reason: str,
                     replaced: ModelRef) -> None:
        self._verdicts = [*self._verdicts, {"candidate_id": candidate_id, "name": model.name, "sha256": model.sha256,
                                            "result": result, "reason": reason, "replaced": replaced.sha256,
                                            "at": time.time()}][-KEEP_VERDICTS:]
        self._save()

    def _save(self) -> None:
        document = {"active": asdict(self.active) if self.active else None, "verdicts": self._verdicts}
        try:
            write_json_durably(self._path, document)
        except OSError as error:
            self._logger.warning("cannot write model state %s (%s); the updater will not learn the outcome and "
                                 "a restart starts from the built-in model", self._path, error)
