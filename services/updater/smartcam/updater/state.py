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
from smartcam.common.contracts.updater_state import ServiceVersion, UpdaterState

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


def write_state(path: Path, services: dict[str, ServiceVersion], model: ModelIdentity | None = None) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    write_document(path, UpdaterState(services=dict(sorted(services.items())), model=model, updated_at=now),
                   durable=False)
