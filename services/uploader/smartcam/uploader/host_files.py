"""What other parts of the device leave for the heartbeat: host cmds results, the updater's state and history.

The uploader may not touch the Docker API (only the updater may), so it learns the other
services' versions and image digests from the updater's state file. Every file is optional: a
missing file is reported as null, a damaged or oversized one as a short problem string, never an
exception, so a broken neighbour cannot stop the heartbeat. Files read (read-only mounts):

- `<cmds_status_file>` (host cmds service, default /var/lib/smartcam/cmds/status.json): any JSON,
  sent as it is.
- `<updater_dir>/history.json`: a JSON list of update records, newest last; the last
  `HISTORY_KEPT` are sent.
- `<checkout_dir>/status.json` (host channel follower): `smartcam.common.checkout_status.CheckoutStatus`.
- `<updater_dir>/state.json`: `{"services": {"<name>": {"image": str, "digest": str, "version": str}},
  "model": {"name": str, "sha256": str}}`; other fields are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartcam.common.checkout_status import read_status

MAX_FILE_BYTES = 256 * 1024  # a heartbeat must stay small on a 2G link
HISTORY_KEPT = 20
SERVICE_FIELDS = ("image", "digest", "version")


@dataclass
class FileRead:
    """A JSON file's content (None if absent or unusable) and, if unusable, why."""

    document: Any = None
    problem: str | None = None


def read_json(path: Path) -> FileRead:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return FileRead(problem=f"{path} is larger than {MAX_FILE_BYTES} bytes; not sent")
        return FileRead(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return FileRead()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return FileRead(problem=f"cannot read {path}: {error}")


@dataclass
class HostFacts:
    cmds: Any = None
    checkout: dict[str, Any] | None = None
    updates: list[Any] | None = None
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def read_host_facts(cmds_status_file: Path, updater_dir: Path, checkout_dir: Path) -> HostFacts:
    facts = HostFacts()
    try:
        checkout = read_status(checkout_dir)
    except ValueError as error:
        facts.problems.append(str(error))
    else:
        facts.checkout = checkout.model_dump(mode="json") if checkout is not None else None
    cmds = read_json(cmds_status_file)
    facts.cmds = cmds.document
    history = read_json(updater_dir / "history.json")
    if isinstance(history.document, list):
        facts.updates = history.document[-HISTORY_KEPT:]
    elif history.document is not None:
        history.problem = f"{updater_dir / 'history.json'} is not a JSON list; not sent"
    state = read_json(updater_dir / "state.json")
    if isinstance(state.document, dict):
        facts.services = _services(state.document.get("services"))
        model = state.document.get("model")
        facts.model = {k: model[k] for k in ("name", "sha256") if k in model} if isinstance(model, dict) else None
    elif state.document is not None:
        state.problem = f"{updater_dir / 'state.json'} is not a JSON object; not used"
    facts.problems += [read.problem for read in (cmds, history, state) if read.problem]
    return facts


def _services(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {str(name): {k: entry[k] for k in SERVICE_FIELDS if k in entry}
            for name, entry in value.items() if isinstance(entry, dict)}
