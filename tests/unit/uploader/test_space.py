"""A full disk never wedges the queue: headroom refuses new events, the reserve lets deliveries be recorded."""

import sqlite3

import pytest

from smartcam.uploader import db, space
from smartcam.uploader.queue import EventQueue, StoreRefusedError


@pytest.fixture
def queue(tmp_path, logger, counters):
    queue = EventQueue(tmp_path / "queue", 10**9, logger, counters)
    yield queue
    queue.close()


def test_the_queue_holds_a_reserve_file(queue):
    reserve = queue.directory / space.RESERVE_NAME
    assert reserve.stat().st_size == space.RESERVE_BYTES


def test_an_event_that_would_eat_into_the_headroom_is_refused_as_disk_full(queue, monkeypatch, make_event):
    monkeypatch.setattr(space, "free_bytes", lambda _directory: space.HEADROOM_BYTES + 100)
    with pytest.raises(StoreRefusedError, match=r"less than .* bytes free"):
        queue.put(make_event(1))
    figures = queue.figures()
    assert (figures.received, figures.refused) == (0, 1)
    assert figures.counters["refused"] == 1
    assert "bytes free" in queue.write_problem()


def test_a_delivery_on_a_full_disk_releases_the_reserve_and_is_recorded(queue, monkeypatch, make_event, counters):
    queue.put(make_event(1))
    [item] = queue.claim(1)
    transaction = db.transaction
    failures = []

    def full_once(connection):  # the next write meets a full disk, as SQLite reports it
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        return transaction(connection)

    monkeypatch.setattr(db, "transaction", full_once)
    queue.mark_delivered(item.event_id)
    figures = queue.figures()
    assert (figures.delivered, figures.queued, figures.balanced) == (1, 0, True)
    assert counters.get("reserve_released") == 1
    assert (queue.directory / space.RESERVE_NAME).exists()  # put back once the delivered image freed its space


def test_a_failed_settlement_without_a_reserve_leaves_the_event_queued(queue, monkeypatch, make_event):
    queue.put(make_event(1))
    [item] = queue.claim(1)
    space.Reserve(queue.directory).release()
    monkeypatch.setattr(space.Reserve, "restore", lambda _self: False)
    monkeypatch.setattr(db, "transaction", lambda _connection: (_ for _ in ()).throw(  # every write: disk full
        sqlite3.OperationalError("database or disk is full")))
    with pytest.raises(sqlite3.OperationalError):
        queue.mark_delivered(item.event_id)
    assert queue.figures().queued == 1
    assert [i.event_id for i in queue.claim(1)] == ["evt-1"]  # sent again later


def test_a_commit_that_fails_is_rolled_back_so_the_next_write_works(tmp_path):
    connection = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    connection.executescript("PRAGMA foreign_keys=ON; CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                             "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), db.transaction(connection):
        connection.execute("INSERT INTO child VALUES (1)")  # fails only at COMMIT
    assert not connection.in_transaction
    with db.transaction(connection):
        connection.execute("INSERT INTO parent VALUES (1)")
    assert connection.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0


def test_the_write_ahead_log_stays_small(queue, make_event):
    """SQLite's default lets the WAL grow to ~4 MB and keeps it: space a nearly full card does not have."""
    wal = queue.directory / (db.DB_NAME + "-wal")
    largest = 0
    for n in range(400):
        queue.put(make_event(n))
        largest = max(largest, wal.stat().st_size)
    assert largest < 1024 * 1024
