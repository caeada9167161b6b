"""What other parts of the device leave for the heartbeat: host cmds results, the updater's state and history.

The uploader may not touch the Docker API (only the updater may), so it learns the other
services' versions and image digests from the updater's state file. Every file is optional: a
missing file is reported as null, a damaged, foreign, newer or oversized one as a short problem
string naming the file, never an exception, so a broken neighbour cannot stop the heartbeat. Each
file is read with its writer's model (`smartcam.common.contracts`), from read-only mounts:

- `<cmds_status_file>` (host cmds service, default /var/lib/smartcam/cmds/status.json): `CmdsStatus`.
- `<checkout_dir>/status.json` (host channel follower): `CheckoutStatus`.
- `<updater_dir>/history.json`: `UpdateHistoryDocument`; its last `HISTORY_KEPT` records are sent.
- `<updater_dir>/state.json`: `UpdaterState`: each service's image, digest and version, infer's model, and
  the updates waiting for the maintenance window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from smartcam.common.contracts.base import Document, DocumentError, read_document
from smartcam.common.contracts.checkout_status import CheckoutStatus, read_status
from smartcam.common.contracts.cmds_status import CmdsStatus
from smartcam.common.contracts.history import UpdateHistoryDocument, UpdateRecord
from smartcam.common.contracts.parts import ModelIdentity
from smartcam.common.contracts.updater_state import PendingUpdate, ServiceVersion, UpdaterState

MAX_FILE_BYTES = 256 * 1024  # a heartbeat must stay small on a 2G link
HISTORY_KEPT = 20
HISTORY_NAME = "history.json"
STATE_NAME = "state.json"
D = TypeVar("D", bound=Document)


@dataclass
class HostFacts:
    cmds: CmdsStatus | None = None
    checkout: CheckoutStatus | None = None
    updates: list[UpdateRecord] | None = None
    services: dict[str, ServiceVersion] = field(default_factory=dict)
    model: ModelIdentity | None = None
    pending: list[PendingUpdate] | None = None
    problems: list[str] = field(default_factory=list)


def read_host_facts(cmds_status_file: Path, updater_dir: Path, checkout_dir: Path) -> HostFacts:
    facts = HostFacts()

    def read(model: type[D], path: Path) -> D | None:
        try:
            return read_document(model, path, MAX_FILE_BYTES)
        except DocumentError as error:
            facts.problems.append(f"{error}; not used")
            return None

    try:
        facts.checkout = read_status(checkout_dir)
    except DocumentError as error:
        facts.problems.append(f"{error}; not used")
    facts.cmds = read(CmdsStatus, cmds_status_file)
    history = read(UpdateHistoryDocument, updater_dir / HISTORY_NAME)
    if history is not None:
        facts.updates = list(history.records[-HISTORY_KEPT:])
    state = read(UpdaterState, updater_dir / STATE_NAME)
    if state is not None:
        facts.services = dict(state.services)
        facts.model = state.model
        facts.pending = list(state.pending)
    return facts
