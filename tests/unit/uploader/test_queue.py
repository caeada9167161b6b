"""The durable queue on real SQLite files: durability, idempotence, order, budget, refusals, crash recovery."""

import errno
import os

import pytest

from smartcam.uploader import bodies, db
from smartcam.uploader.queue import EventQueue, StoreRefusedError
from smartcam.uploader.snapshot import read_snapshot

KB = 1024


@pytest.fixture
def open_queue(tmp_path, logger, counters):
    opened = []

    def open_(budget_bytes=10**9):
        queue = EventQueue(tmp_path / "queue", budget_bytes, logger, counters)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        queue.close()


@pytest.fixture
def opened_connections(monkeypatch):
    """The SQLite connections queues open from now on: to read a pragma or set a per-connection limit."""
    opened = []
    connect = db.connect

    def recording(queue_dir):
        opened.append(connect(queue_dir))
        return opened[-1]

    monkeypatch.setattr(db, "connect", recording)
    return opened


def queued_ids(queue):
    """What is queued, in delivery order, leaving it all unclaimed."""
    claimed = [item.event_id for item in queue.claim(1000)]
    for event_id in claimed:
        queue.release(event_id)
    return claimed


def test_a_stored_event_survives_closing_and_reopening(open_queue, make_event):
    queue = open_queue()
    event = make_event(1)
    assert queue.put(event) is True
    queue.close()
    reopened = open_queue()
    [item] = reopened.claim(10)
    assert item.event_id == "evt-1"
    assert item.description["captured_at"] == "2026-11-27T06:00:01.000Z"
    assert reopened.read_image(item) == event.image
    assert reopened.figures().received == 1


def test_the_body_file_and_row_are_on_disk_when_put_returns(open_queue, make_event, tmp_path):
    queue = open_queue()
    queue.put(make_event(1))
    body = tmp_path / "queue" / "bodies" / bodies.body_name("evt-1")
    assert body.read_bytes() == make_event(1).image
    assert not list((tmp_path / "queue" / "bodies").glob("*.tmp"))
    reader = db.connect_read_only(tmp_path / "queue")  # another connection sees the committed row
    assert read_snapshot(reader).event("evt-1").state == db.QUEUED
    reader.close()


def test_the_database_runs_wal_with_full_synchronous(open_queue, opened_connections):
    open_queue()
    [connection] = opened_connections
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_putting_the_same_event_again_stores_it_once(open_queue, make_event):
    queue = open_queue()
    assert queue.put(make_event(1)) is True
    assert queue.put(make_event(1)) is False
    assert queued_ids(queue) == ["evt-1"]
    figures = queue.figures()
    assert (figures.received, figures.queued, figures.duplicates) == (1, 1, 1)


def test_a_resend_after_delivery_is_not_queued_again(open_queue, make_event):
    queue = open_queue()
    queue.put(make_event(1))
    [item] = queue.claim(1)
    queue.mark_delivered(item.event_id)
    queue.close()
    reopened = open_queue()
    assert reopened.put(make_event(1)) is False
    assert queued_ids(reopened) == []
    figures = reopened.figures()
    assert (figures.received, figures.delivered, figures.queued, figures.duplicates) == (1, 1, 0, 1)
    assert figures.balanced


def test_delivery_order_is_capture_time_not_arrival(open_queue, make_event):
    queue = open_queue()
    for n, seconds in [(1, 30), (2, 10), (3, 20)]:
        queue.put(make_event(n, seconds=seconds))
    assert queued_ids(queue) == ["evt-2", "evt-3", "evt-1"]


def test_claimed_events_are_not_handed_out_twice_until_released(open_queue, make_event):
    queue = open_queue()
    for n in range(3):
        queue.put(make_event(n))
    assert [i.event_id for i in queue.claim(2)] == ["evt-0", "evt-1"]
    assert [i.event_id for i in queue.claim(2)] == ["evt-2"]
    queue.release("evt-0")
    assert [i.event_id for i in queue.claim(2)] == ["evt-0"]


def test_over_budget_samples_go_before_detections_oldest_first(open_queue, make_event):
    queue = open_queue(budget_bytes=5 * KB)
    image = b"x" * KB
    order = [(1, True), (2, False), (3, True), (4, False), (5, True), (6, False)]
    for n, sample in order[:5]:
        queue.put(make_event(n, sample=sample, image=image))
    assert queue.figures().evicted == {}
    queue.put(make_event(6, sample=False, image=image))  # 6 KB: one must go, the oldest sample
    assert queued_ids(queue) == ["evt-2", "evt-3", "evt-4", "evt-5", "evt-6"]
    queue.put(make_event(7, sample=False, image=b"x" * 2 * KB))  # 7 KB: the two other samples go
    assert queued_ids(queue) == ["evt-2", "evt-4", "evt-6", "evt-7"]
    queue.put(make_event(8, sample=False, image=image))  # no samples left: the oldest detection goes
    assert queued_ids(queue) == ["evt-4", "evt-6", "evt-7", "evt-8"]
    figures = queue.figures()
    assert figures.evicted == {"over_budget_sample": 3, "over_budget_detection": 1}
    assert figures.queued_bytes <= 5 * KB
    assert figures.balanced
    assert len(bodies.body_files(bodies.bodies_dir(queue.directory))) == 4  # evicted bodies are gone from disk


def test_dead_letters_are_never_evicted_and_in_flight_events_are_spared(open_queue, make_event):
    queue = open_queue(budget_bytes=3 * KB)
    image = b"x" * KB
    queue.put(make_event(1, image=image))
    queue.put(make_event(2, image=image))
    queue.claim(1)
    queue.dead_letter("evt-1", 400, "bad")
    [in_flight] = queue.claim(1)
    queue.put(make_event(3, image=image))
    queue.put(make_event(4, image=image))  # 4 KB: evt-1 is a dead letter, evt-2 in flight: evt-3 goes
    queue.release(in_flight.event_id)
    assert queued_ids(queue) == ["evt-2", "evt-4"]
    figures = queue.figures()
    assert (figures.dead_letter, figures.evicted) == (1, {"over_budget_detection": 1})
    assert figures.balanced


def test_a_full_disk_refuses_the_event_counts_it_and_leaves_the_queue_intact(open_queue, make_event,
                                                                             monkeypatch, tmp_path):
    queue = open_queue()
    queue.put(make_event(1))

    def disk_full(_descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StoreRefusedError) as refused:
        queue.put(make_event(2))
    assert "evt-2" in refused.value.reason
    assert "No space left on device" in refused.value.reason
    assert "free disk space" in queue.write_problem()
    monkeypatch.undo()
    body_dir = tmp_path / "queue" / "bodies"
    assert sorted(p.name for p in body_dir.iterdir()) == [bodies.body_name("evt-1")]  # no partial file left
    queue.close()
    reopened = open_queue()
    figures = reopened.figures()
    assert (figures.received, figures.queued, figures.refused) == (1, 1, 1)
    assert reopened.put(make_event(2)) is True  # infer's resend is taken once the disk has room
    assert queued_ids(reopened) == ["evt-1", "evt-2"]
    assert reopened.write_problem() is None


def test_a_full_database_refuses_the_event_and_removes_its_body(open_queue, make_event, tmp_path, counters,
                                                                opened_connections):
    queue = open_queue()
    queue.put(make_event(1))
    [connection] = opened_connections
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite answers SQLITE_FULL from now on
    refusals = []
    for n in range(2, 200):  # fills the last free space in the existing pages, then is refused
        try:
            queue.put(make_event(n, image=b"y" * 10))
        except StoreRefusedError as refused:
            refusals.append(refused.reason)
            break
    assert refusals
    assert "database or disk is full" in refusals[0]
    connection.execute("PRAGMA max_page_count = 1073741823")
    figures = queue.figures()
    assert figures.balanced
    assert counters.get("refused") == 1
    assert figures.queued == figures.received
    assert len(bodies.body_files(tmp_path / "queue" / "bodies")) == figures.queued


def test_recovery_removes_temp_files_and_unowned_bodies_and_counts_lost_ones(open_queue, make_event, tmp_path,
                                                                             counters):
    queue = open_queue()
    for n in range(3):
        queue.put(make_event(n))
    queue.close()
    body_dir = tmp_path / "queue" / "bodies"
    (body_dir / bodies.body_name("evt-1")).unlink()  # a stored body vanished
    (body_dir / "half-written.jpg.tmp").write_bytes(b"\xff\xd8")  # crash while writing
    (body_dir / bodies.body_name("evt-9")).write_bytes(b"never recorded")  # crash before the row commit
    reopened = open_queue()
    assert queued_ids(reopened) == ["evt-0", "evt-2"]
    assert sorted(p.name for p in body_dir.iterdir()) == sorted(bodies.body_name(f"evt-{n}") for n in (0, 2))
    figures = reopened.figures()
    assert figures.evicted == {"lost_file_missing": 1}
    assert figures.balanced
    assert counters.get("orphan_temp_files_removed") == 1
    assert counters.get("orphan_bodies_removed") == 1


def test_a_body_lost_while_running_is_accounted_for(open_queue, make_event):
    queue = open_queue()
    queue.put(make_event(1))
    [item] = queue.claim(1)
    (bodies.bodies_dir(queue.directory) / item.body_file).unlink()
    with pytest.raises(FileNotFoundError):
        queue.read_image(item)
    queue.mark_lost(item.event_id, "gone")
    figures = queue.figures()
    assert (figures.queued, figures.evicted) == (0, {"lost_file_missing": 1})
    assert figures.balanced


def test_counters_survive_a_restart(open_queue, make_event):
    queue = open_queue()
    for n in range(4):
        queue.put(make_event(n))
    for item in queue.claim(2):
        queue.mark_delivered(item.event_id)
    [item] = queue.claim(1)
    queue.dead_letter(item.event_id, 422, "unprocessable")
    queue.close()
    figures = open_queue().figures()
    assert (figures.received, figures.delivered, figures.dead_letter, figures.queued) == (4, 2, 1, 1)
    assert figures.balanced


def test_old_tombstones_are_pruned_but_totals_stay(open_queue, make_event):
    queue = open_queue()
    queue.put(make_event(1))
    queue.claim(1)
    queue.mark_delivered("evt-1")
    queue.prune_tombstones(retention_s=-1)
    assert queue.snapshot().events == ()
    assert queue.figures().delivered == 1


def test_the_oldest_queued_age_is_measured_from_arrival(tmp_path, logger, make_event):
    now = [1000.0]
    queue = EventQueue(tmp_path / "queue", 10**9, logger, clock=lambda: now[0])
    queue.put(make_event(1))
    now[0] = 1060.0
    queue.put(make_event(2))
    assert queue.figures().oldest_queued_age_s == 60.0
    queue.claim(2)
    queue.mark_delivered("evt-1")
    assert queue.figures().oldest_queued_age_s == 0.0
    queue.mark_delivered("evt-2")
    assert queue.figures().oldest_queued_age_s is None
    queue.close()
