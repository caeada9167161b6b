"""The follower's memory across restarts: `<checkout dir>/state.json`, written durably.

What is in force is not stored here: the `current` link is the one source of truth for that. This file
holds what the link cannot: the commit to roll back to, an apply in progress (so a power cut in the middle
is finished or undone at the next start), and what became of recent heads. A damaged file is moved aside and
the follower starts from the link; commits it refused are also in `bad-commits.json`, so none is applied twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smartcam.common.contracts.checkout_status import HeadOutcome
from smartcam.common.files import write_json_durably

STATE_NAME = "state.json"
REFUSED_KEPT = 10


class Attempt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_commit: str | None
    to_commit: str
    stage: Literal["host", "switched"]  # host steps running; or the link already points at to_commit
    started_at: float


class FollowState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    previous: str | None = None  # the commit to roll back to
    applied_at: float | None = None
    attempt: Attempt | None = None
    head: HeadOutcome | None = None
    refused: list[HeadOutcome] = Field(default_factory=list)

    def remember(self, outcome: HeadOutcome) -> None:
        self.head = outcome
        if outcome.state in ("rejected_unsigned", "rejected", "rolled_back"):
            self.refused = [outcome, *[o for o in self.refused if o.commit != outcome.commit]][:REFUSED_KEPT]


def load_state(directory: Path, logger: logging.Logger) -> tuple[FollowState, bool]:
    """The stored state and whether it had to be recovered from a damaged file."""
    path = directory / STATE_NAME
    try:
        return FollowState.model_validate(json.loads(path.read_text(encoding="utf-8"))), False
    except FileNotFoundError:
        return FollowState(), False
    except (OSError, UnicodeDecodeError, ValueError, ValidationError) as error:
        aside = path.with_name(STATE_NAME + ".damaged")
        path.replace(aside)
        logger.error("the follower state %s was damaged (%s); moved to %s. Starting from the commit in force "
                     "(the `current` link) and the bad-commit list; its health is checked again",
                     path, str(error).splitlines()[0], aside)
        return FollowState(), True


def save_state(directory: Path, state: FollowState) -> None:
    write_json_durably(directory / STATE_NAME, state.model_dump(mode="json"))
