"""Persisted counters on a real SQLite file: they change with their rows, or not at all."""

import sqlite3

import pytest

from smartcam.common.counters import Counters
from smartcam.uploader import db
from smartcam.uploader.counts import CounterStore, read_counters


@pytest.fixture
def database(tmp_path):
    database = db.Database(tmp_path)
    yield database
    database.close()


def persisted(database):
    with database.locked() as connection:
        return read_counters(connection)


def test_a_change_and_its_counts_commit_together(database):
    counters = Counters()
    store = CounterStore(database, counters)
    with store.change() as change:
        change.sql.execute("INSERT INTO facts (name, value) VALUES ('a', '1')")
        change.counts["things"] += 2
    assert persisted(database) == {"things": 2}
    assert counters.get("things") == 2


def test_a_failed_change_counts_nothing_anywhere(database):
    counters = Counters()
    store = CounterStore(database, counters)

    def failing_change():
        with store.change() as change:
            change.counts["things"] += 1
            change.sql.execute("INSERT INTO facts (name, value) VALUES ('a', NULL)")  # NOT NULL: it fails

    with pytest.raises(sqlite3.IntegrityError):
        failing_change()
    assert persisted(database) == {}
    assert counters.get("things") == 0


def test_a_count_the_disk_refuses_is_kept_and_written_with_the_next_change(database, monkeypatch):
    counters = Counters()
    store = CounterStore(database, counters)
    with monkeypatch.context() as patched:
        patched.setattr(db, "transaction", lambda _connection: (_ for _ in ()).throw(
            sqlite3.OperationalError("database or disk is full")))
        store.count_soon("refused")
        store.count_soon("refused")
    assert persisted(database) == {}
    assert counters.get("refused") == 2  # the in-memory count is never held back
    with store.change() as change:
        change.counts["received"] += 1
    assert persisted(database) == {"refused": 2, "received": 1}
    with store.change():
        pass
    assert persisted(database) == {"refused": 2, "received": 1}  # carried once, not again


def test_a_count_is_written_at_once_when_the_disk_allows(database):
    store = CounterStore(database, Counters())
    store.count_soon("duplicates")
    assert persisted(database) == {"duplicates": 1}
