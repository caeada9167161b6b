"""`<state_dir>/state.json`: what each service runs now, for the uploader's heartbeat.

{"services": {"<name>": {"image": ref, "digest": registry digest, "version": SMARTCAM_VERSION}},
 "updated_at": ISO time}. Rewritten atomically after every poll round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from smartcam.common.files import write_json_atomically


@dataclass(frozen=True)
class RunningService:
    image: str
    digest: str | None
    version: str | None


def write_state(path: Path, services: dict[str, RunningService]) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    write_json_atomically(path, {
        "services": {name: {"image": s.image, "digest": s.digest, "version": s.version}
                     for name, s in sorted(services.items())},
        "updated_at": now,
    })
