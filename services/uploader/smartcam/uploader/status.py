"""`smartcam status [--json]`: where every event went, read while the service runs.

Reads the queue database read-only (WAL readers never block the writer), so it is safe to run at
any time: `docker compose exec uploader smartcam status` (or `bin/smartcam status` on the host).
Also runnable as `python -m smartcam.uploader.status`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcam.common.settings import SettingsError, load_settings
from smartcam.uploader import db, outbox
from smartcam.uploader.figures import read_dead_letters, read_figures
from smartcam.uploader.settings import UploaderSettings

DEAD_LETTERS_SHOWN = 10


def collect(queue_dir: Path) -> dict[str, Any]:
    """The status document (what `--json` prints)."""
    connection = db.connect_read_only(queue_dir)
    try:
        figures = read_figures(connection)
        dead_letters = read_dead_letters(connection, DEAD_LETTERS_SHOWN)
        heartbeat = _pending_heartbeat(connection)
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
        "retried": figures.retried,
        "queued_bytes": figures.queued_bytes,
        "stored_bytes": figures.stored_bytes,
        "disk_free_bytes": shutil.disk_usage(queue_dir).free,
        "balanced": figures.balanced,
        "heartbeats": {"sent": figures.counters.get("heartbeats_sent", 0),
                       "rejected": figures.counters.get("heartbeats_rejected", 0),
                       "replaced_unsent": figures.counters.get("heartbeats_replaced_unsent", 0),
                       "unsent_since": heartbeat},
        "recent_dead_letters": [asdict(letter) for letter in dead_letters],
    }


def _pending_heartbeat(connection: sqlite3.Connection) -> float | None:
    """When the unsent heartbeat was made, or None (also for a database from before heartbeats)."""
    try:
        message = outbox.read_message(connection, "heartbeat")
    except sqlite3.OperationalError:
        return None
    return None if message is None else message.created_at


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
        ("retried", f"{document['retried']}  (failed attempts of events since settled)"),
        ("disk free", f"{document['disk_free_bytes'] / 1e6:.1f} MB"),
        ("heartbeats", _heartbeats(document["heartbeats"])),
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


def _heartbeats(heartbeats: dict[str, Any]) -> str:
    unsent = heartbeats["unsent_since"]
    waiting = "none waiting" if unsent is None else \
        "one waiting since " + datetime.fromtimestamp(unsent, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{heartbeats['sent']} sent, {heartbeats['rejected']} refused by the target, {waiting}"


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
