"""The channel follower's status file, `<checkout dir>/status.json`: written on the host, sent in the heartbeat.

Typed once here for both sides: the follower (host service, root) writes it after every poll; the uploader
reads it from a read-only mount and puts it in the heartbeat as `checkout`, so an operator sees which commit of
the channel a device runs and why a newer one is not in force.

`state` says what became of the branch's newest head (`head`):
- `applied`: the device runs it (healthy);
- `rejected_unsigned`: not signed by a trusted key (unsigned, bad or unknown signature, unreadable commit);
- `rejected`: signed but unusable before anything changed (compose.yaml does not parse, an image is missing);
- `rolled_back`: applied, but the stack did not become healthy in time: the previous commit is back;
- `failed`: could not be tried this time (disk full, git or docker error); tried again at the next poll;
- `applying`: in progress;
- `unknown`: no poll has reached the git server yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartcam.common.contracts.base import Document, read_document, write_document

STATUS_NAME = "status.json"
MAX_STATUS_BYTES = 64 * 1024
CheckoutState = Literal["applied", "rejected_unsigned", "rejected", "rolled_back", "failed", "applying", "unknown"]


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PollResult(_Document):
    at: float | None = None
    ok: bool | None = None  # the git server answered
    error: str | None = None


class HeadOutcome(_Document):
    commit: str
    state: CheckoutState
    reason: str = ""
    at: float
    force_pushed: bool = False  # the head does not descend from the commit in force


class CheckoutStatus(Document):
    service: str = "follow"
    updated_at: float
    channel: str
    repo: str
    commit: str | None = None  # the commit in force on the device
    applied_at: float | None = None  # when it came into force
    state: CheckoutState = "unknown"
    head: HeadOutcome | None = None  # the branch's newest head and what became of it
    poll: PollResult = Field(default_factory=PollResult)
    refused: list[HeadOutcome] = Field(default_factory=list)  # newest first: heads not applied, and why


def write_status(directory: Path, status: CheckoutStatus) -> None:
    write_document(directory / STATUS_NAME, status, durable=False)


def read_status(directory: Path) -> CheckoutStatus | None:
    """The status, None if absent; DocumentError (a ValueError) naming the file if it is damaged or newer."""
    return read_document(CheckoutStatus, directory / STATUS_NAME, MAX_STATUS_BYTES)
