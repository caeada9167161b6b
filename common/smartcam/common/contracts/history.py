"""`history.json`: every update attempt (what, from, to, result, time, reason), newest last.

Kept by the image and model updater (`<state_dir>/history.json`, read by the uploader for the heartbeat)
and by the host's channel follower (`<checkout dir>/history.json`), with the same records. Until version 1
was written down the file was a bare JSON list of records; a reader takes that as version 1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from smartcam.common.contracts.base import Document

UpdateKind = Literal["service", "updater", "model", "checkout"]
UpdateResult = Literal["updated", "rolled_back", "rejected", "failed"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, config=ConfigDict(extra="ignore"))
class UpdateRecord:
    """One attempt (a dataclass, so writers build it positionally: kind, target, from, to, result, reason)."""

    kind: UpdateKind
    target: str  # service name, "updater", model name, "manifest", or the checkout's branch
    from_ref: str | None  # image digest, model sha256 or git commit before
    to_ref: str  # image digest, model sha256 or git commit attempted
    result: UpdateResult
    reason: str
    at: str = Field(default_factory=_now)  # ISO-8601 UTC


class UpdateHistoryDocument(Document):
    records: list[UpdateRecord] = Field(description="Oldest first.")

    @classmethod
    def upgrade(cls, raw: Any) -> Any:
        return {"version": 1, "records": raw} if isinstance(raw, list) else raw
