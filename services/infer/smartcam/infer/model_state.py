"""infer's model state file: the model it serves (so a restart keeps it) and its verdict on each candidate.

Lives in infer's only writable volume (`SMARTCAM_INFER_STATE_DIR`); the updater reads it to record
the outcome in the update history. Written atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from smartcam.common.contracts.base import DocumentError
from smartcam.common.contracts.model_exchange import (
    ActiveModel,
    ModelStateDocument,
    ModelVerdict,
    VerdictResult,
    read_model_state,
    write_model_state,
)
from smartcam.common.wire import ModelRef

KEEP_VERDICTS = 20


class ModelState:
    """Loaded once at start-up, then updated and saved by this process only."""

    def __init__(self, state_dir: Path, logger: logging.Logger) -> None:
        self._dir = state_dir
        self._logger = logger
        self.active: ActiveModel | None = None
        self._verdicts: list[ModelVerdict] = []
        try:
            document = read_model_state(state_dir)
        except DocumentError as error:
            logger.warning("model state unreadable (%s); starting from the built-in model", error)
            document = None
        if document is not None:
            self.active = document.active
            self._verdicts = list(document.verdicts)[-KEEP_VERDICTS:]

    def has_verdict(self, candidate_id: str) -> bool:
        return any(item.candidate_id == candidate_id for item in self._verdicts)

    def serving(self, model: ModelRef, model_dir: Path) -> None:
        self.active = ActiveModel(name=model.name, sha256=model.sha256, dir=str(model_dir))
        self._save()

    def accepted(self, candidate_id: str, model: ModelRef, model_dir: Path, reason: str, replaced: ModelRef) -> None:
        """Serve `model` from now on and say so, in one atomic write (a crash leaves both or neither)."""
        self.active = ActiveModel(name=model.name, sha256=model.sha256, dir=str(model_dir))
        self._add_verdict(candidate_id, model, "accepted", reason, replaced)

    def rejected(self, candidate_id: str, model: ModelRef, reason: str, serving: ModelRef) -> None:
        self._add_verdict(candidate_id, model, "rejected", reason, serving)

    def _add_verdict(self, candidate_id: str, model: ModelRef, result: VerdictResult, reason: str,
                     replaced: ModelRef) -> None:
        verdict = ModelVerdict(candidate_id=candidate_id, name=model.name, sha256=model.sha256, result=result,
                               reason=reason, replaced=replaced.sha256, at=time.time())
        self._verdicts = [*self._verdicts, verdict][-KEEP_VERDICTS:]
        self._save()

    def _save(self) -> None:
        try:
            write_model_state(self._dir, ModelStateDocument(active=self.active, verdicts=self._verdicts))
        except OSError as error:
            self._logger.warning("cannot write model state in %s (%s); the updater will not learn the outcome and "
                                 "a restart starts from the built-in model", self._dir, error)
