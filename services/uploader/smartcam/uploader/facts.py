"""Small named facts kept across restarts, e.g. the model of the latest event (the heartbeat reports it).

A key-value table beside the events: a fact is written inside the transaction of the change it
describes, so it never disagrees with the events stored.
"""

from __future__ import annotations

import sqlite3

LAST_MODEL = "last_model"  # JSON {"name", "sha256"} of the model that made the latest stored event


def write(connection: sqlite3.Connection, name: str, value: str) -> None:
    """Set `name`; call inside the caller's transaction."""
    connection.execute("INSERT OR REPLACE INTO facts (name, value) VALUES (?, ?)", (name, value))


def read(connection: sqlite3.Connection, name: str) -> str | None:
    row = connection.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def read_all(connection: sqlite3.Connection) -> dict[str, str]:
    return {name: value for name, value in connection.execute("SELECT name, value FROM facts ORDER BY name")}
