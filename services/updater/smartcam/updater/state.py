"""`<updater_dir>/state.json` (`smartcam.common.contracts.updater_state`): what each service runs now.

Read by the uploader for its heartbeat (it may not touch the Docker API). Rewritten atomically after every
poll round, with infer's active model as infer itself reports it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from smartcam.common.contracts.base import DocumentError, write_document
from smartcam.common.contracts.model_exchange import read_model_state
from smartcam.common.contracts.parts import ModelIdentity
from smartcam.common.contracts.updater_state import PendingUpdate, ServiceVersion, UpdaterState

RunningService = ServiceVersion  # image, digest, version


def active_model(infer_state_dir: Path) -> ModelIdentity | None:
    """Infer's active model as infer itself reports it; None before infer wrote its state (or if unreadable)."""
    try:
        state = read_model_state(infer_state_dir)
    except DocumentError:
        return None
    if state is None or state.active is None:
        return None
    return ModelIdentity(name=state.active.name, sha256=state.active.sha256)


class Pending:
    """The updates waiting for the maintenance window, by (kind, target); both update paths share one."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], PendingUpdate] = {}

    def hold(self, update: PendingUpdate) -> None:
        self._waiting[(update.kind, update.target)] = update

    def clear(self, kind: str, target: str | None = None) -> None:
        """Forget what waits for `target` (None: everything of this kind)."""
        for key in [k for k in self._waiting if k[0] == kind and target in (None, k[1])]:
            del self._waiting[key]

    def items(self) -> list[PendingUpdate]:
        return [self._waiting[key] for key in sorted(self._waiting)]


def iso_utc(timestamp: float | None = None) -> str:
    moment = datetime.now(UTC) if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def write_state(path: Path, services: dict[str, ServiceVersion], model: ModelIdentity | None = None,
                pending: list[PendingUpdate] | None = None) -> None:
    write_document(path, UpdaterState(services=dict(sorted(services.items())), model=model, updated_at=iso_utc(),
                                      pending=pending or []), durable=False)
