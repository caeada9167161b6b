"""The host cmds service's `status.json` (/var/lib/smartcam/cmds/status.json), sent in the heartbeat as `cmds`.

Written by the cmds service (host, root) after every poll; the uploader reads it through a read-only mount.
All times are seconds since 1970, UTC.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartcam.common.contracts.base import Document
from smartcam.common.contracts.checkout_status import PollResult


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LineProblem(_Part):
    line: int
    message: str


class VerifiedFile(_Part):
    """The last custom_cmds file whose signature was valid."""

    sha256: str | None = None
    entries: int = 0
    problems: list[LineProblem] = Field(default_factory=list)


class EntryResult(_Part):
    line: int
    entry: str
    due: float
    state: str  # done, failed, skipped, interrupted
    updated_at: float
    result: dict[str, Any] | None = None  # runs: `commands` (command, exit_code, timed_out, ...), `not_run`


class LedgerReport(_Part):
    """How the ledger was found at start (ledger, backup, new, lost) and its damage since."""

    loaded_from: str
    lost_before: float | None = None  # one-shot entries due before it without a record are skipped
    damaged: list[str] = Field(default_factory=list)  # copies set aside as *.damaged
    problems: list[str] = Field(default_factory=list)


class CmdsStatus(Document):
    service: str = "cmds"
    updated_at: float
    channel: str
    source: str  # where custom_cmds comes from
    poll: PollResult = Field(default_factory=PollResult)  # ok: fetched *and* its signature valid
    file: VerifiedFile = Field(default_factory=VerifiedFile)
    recent: list[EntryResult] = Field(default_factory=list, description="The last results, newest first.")
    ledger: LedgerReport
    counters: dict[str, int] = Field(default_factory=dict, description="Running totals since start.")
