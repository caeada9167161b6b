"""JSON Schemas of what the uploader sends, generated from the models, for target implementers.

`python -m smartcam.common.contracts.schemas DIR` (`scripts/sync-schemas`) writes them into `docs/schemas/`;
`--check` only compares and exits 1 naming each file that differs. A unit test runs the same comparison, so
the committed schemas cannot drift from the models the uploader builds its bodies with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from smartcam.common.contracts.event import EVENT_SCHEMA_VERSION, EventBody, EventMetadata, LegacyEventBody
from smartcam.common.contracts.heartbeat import Heartbeat

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PUBLISHED: dict[str, tuple[type[BaseModel], str]] = {
    "event.schema.json": (EventBody, f"the event body, SMARTCAM_PAYLOAD_FORMAT=json; format version "
                                     f"{EVENT_SCHEMA_VERSION}"),
    "event-metadata.schema.json": (EventMetadata, f"the `metadata` part of SMARTCAM_PAYLOAD_FORMAT=multipart; "
                                                  f"format version {EVENT_SCHEMA_VERSION}"),
    "legacy-event.schema.json": (LegacyEventBody, f"the event body, SMARTCAM_PAYLOAD_FORMAT=legacy; format "
                                                  f"version {EVENT_SCHEMA_VERSION}"),
    "heartbeat.schema.json": (Heartbeat, f"the heartbeat body; format version {Heartbeat.VERSION} (its "
                                         "`version` field)"),
}


def schema(model: type[BaseModel], what: str) -> dict[str, Any]:
    """The schema of `model` as it is serialised (every field is present in what the uploader sends)."""
    generated = model.model_json_schema(mode="serialization")
    origin = f"{model.__module__}.{model.__qualname__}"
    return {"$schema": DRAFT,
            "$comment": f"smartcam: {what}. Generated from {origin} by scripts/sync-schemas; do not edit.",
            **generated}


def render() -> dict[str, str]:
    """File name -> file content, for every published schema."""
    return {name: json.dumps(schema(model, what), indent=2, ensure_ascii=False) + "\n"
            for name, (model, what) in PUBLISHED.items()}


def differences(directory: Path) -> list[str]:
    """Published schemas in `directory` that are missing or differ from the models."""
    return [name for name, text in render().items()
            if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where the schemas live (docs/schemas)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if any file differs")
    args = parser.parse_args(argv)
    stale = differences(args.directory)
    if args.check:
        for name in stale:
            print(f"{args.directory / name} differs from its model; run scripts/sync-schemas", file=sys.stderr)
        return 1 if stale else 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        if name in stale:
            (args.directory / name).write_text(text, encoding="utf-8")
            print(f"wrote {args.directory / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
