"""`python -m smartcam.uploader.status [--json]`: where every event went, read while the service runs.

Reads the queue database read-only (WAL readers never block the writer), so it is safe to run at
any time, e.g. as `docker compose exec uploader python -m smartcam.uploader.status`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcam.common.settings import SettingsError, load_settings
from smartcam.uploader import db
from smartcam.uploader.settings import UploaderSettings

DEAD_LETTERS_SHOWN = 10


def collect(queue_dir: Path) -> dict[str, Any]:
    """The status document (what `--json` prints)."""
    connection = db.connect_read_only(queue_dir)
    try:
        figures = db.read_figures(connection)
        dead_letters = db.read_dead_letters(connection, DEAD_LETTERS_SHOWN)
    except sqlite3.Error as error:
        raise sqlite3.Error(f"cannot read {queue_dir / db.DB_NAME}: {error}; check its permissions "
                            "(run as the uploader's user)") from None
    finally:
        connection.close()
    return {
        "queue_dir": str(queue_dir),
        "received": figures.received,
        "delivered": figures.delivered,
        "queued": figures.queued,
        "dead_letter": figures.dead_letter,
        "evicted": figures.evicted,
        "evicted_total": figures.evicted_total,
        "refused": figures.refused,
        "duplicates": figures.duplicates,
        "oldest_queued_age_s": figures.oldest_queued_age_s,
        "queued_bytes": figures.queued_bytes,
        "stored_bytes": figures.stored_bytes,
        "balanced": figures.balanced,
        "recent_dead_letters": [asdict(letter) for letter in dead_letters],
    }


def render(document: dict[str, Any]) -> str:
    """A table for people."""
    evicted = ", ".join(f"{reason} {count}" for reason, count in document["evicted"].items()) or "none"
    age = document["oldest_queued_age_s"]
    rows = [
        ("received", f"{document['received']}  (stored and acknowledged to infer)"),
        ("delivered", str(document["delivered"])),
        ("queued", f"{document['queued']}  ({document['queued_bytes'] / 1e6:.1f} MB)"),
        ("dead letters", str(document["dead_letter"])),
        ("evicted", f"{document['evicted_total']}  ({evicted})"),
        ("refused", f"{document['refused']}  (not stored, infer resends them)"),
        ("duplicates", f"{document['duplicates']}  (resends of stored events, acknowledged again)"),
        ("oldest queued", "-" if age is None else f"{age:.0f} s ago"),
        ("accounted for", "yes" if document["balanced"] else
         "NO: received != delivered + queued + dead letters + evicted (please report this)"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"uploader queue in {document['queue_dir']}", *(f"  {name:<{width}}  {value}" for name, value in rows)]
    if document["recent_dead_letters"]:
        lines.append("recent dead letters (kept on disk):")
        for letter in document["recent_dead_letters"]:
            captured = datetime.fromtimestamp(letter["captured_at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            lines.append(f"  {letter['event_id']}  captured {captured}  {letter['reason']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartcam status", description="Where the uploader's events went.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--queue-dir", type=Path, help="queue directory (default: SMARTCAM_QUEUE_DIR or its default)")
    args = parser.parse_args(argv)
    try:
        queue_dir = args.queue_dir or load_settings(UploaderSettings).queue_dir
        document = collect(queue_dir)
    except (SettingsError, FileNotFoundError, sqlite3.Error) as error:
        print(f"smartcam status: {error}", file=sys.stderr)
        return 1
    print(json.dumps(document) if args.json else render(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
