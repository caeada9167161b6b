"""`<state_dir>/state.json`: what each service runs now, for the uploader's heartbeat.

{"services": {"<name>": {"image": ref, "digest": registry digest, "version": SMARTCAM_VERSION}},
 "model": {"name", "sha256"} of infer's active model (from infer's own state file) or null,
 "updated_at": ISO time}. Rewritten atomically after every poll round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcam.common.files import write_json_atomically
from smartcam.common.model_exchange import STATE_NAME


@dataclass(frozen=True)
class RunningService:
    image: str
    digest: str | None
    version: str | None


def active_model(infer_state_dir: Path) -> dict[str, Any] | None:
    """Infer's active model as infer itself reports it; None before infer wrote its state."""
    try:
        active = json.loads((infer_state_dir / STATE_NAME).read_text()).get("active")
    except (OSError, ValueError, AttributeError):
        return None
    return {k: active[k] for k in ("name", "sha256") if k in active} if isinstance(active, dict) else None


def write_state(path: Path, services: dict[str, RunningService], model: dict[str, Any] | None = None) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    write_json_atomically(path, {
        "services": {name: {"image": s.image, "digest": s.digest, "version": s.version}
                     for name, s in sorted(services.items())},
        "model": model,
        "updated_at": now,
    })
