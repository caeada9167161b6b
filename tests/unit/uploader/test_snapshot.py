"""The queue's read-only snapshot: what tests and the fault audit see must be what the queue holds."""

import json

import pytest

from smartcam.uploader import db, facts
from smartcam.uploader.queue import EventQueue
from smartcam.uploader.snapshot import read_snapshot


@pytest.fixture
def now():
    return [1000.0]


@pytest.fixture
def queue(tmp_path, logger, counters, now):
    queue = EventQueue(tmp_path / "queue", 10**9, logger, counters, clock=lambda: now[0])
    yield queue
    queue.close()


def test_an_empty_queue_holds_nothing(queue):
    snapshot = queue.snapshot()
    assert (snapshot.events, snapshot.outbox, snapshot.facts, snapshot.counters) == ((), (), {}, {})
    assert (snapshot.in_flight, snapshot.unsaved_attempts, snapshot.dead_letters) == (frozenset(), {}, [])


def test_every_fate_shows_with_its_details(queue, make_event, now):
    for n in range(4):
        queue.put(make_event(n, sample=n == 3))
    queue.claim(3)
    queue.mark_delivered("evt-0")
    now[0] = 1010.0
    queue.dead_letter("evt-1", 422, "unprocessable")
    queue.release("evt-2")
    snapshot = queue.snapshot()
    assert [(e.event_id, e.state) for e in snapshot.events] == [
        ("evt-0", db.DELIVERED), ("evt-1", db.DEAD_LETTER), ("evt-2", db.QUEUED), ("evt-3", db.QUEUED)]
    delivered, dead, retried, sample = snapshot.events
    assert (delivered.body_file, delivered.body_bytes, delivered.description, delivered.attempts) == (None, 0, None, 1)
    assert (dead.http_status, dead.last_error, dead.finished_at, dead.attempts) == (422, "unprocessable", 1010.0, 1)
    assert dead.body_bytes == len(make_event(1).image)
    assert json.loads(retried.description)["event_id"] == "evt-2"
    assert (retried.received_at, retried.attempts, retried.finished_at) == (1000.0, 0, None)
    assert (sample.sample, retried.sample) == (True, False)
    assert snapshot.ids(db.QUEUED) == ["evt-2", "evt-3"]
    assert snapshot.event("evt-9") is None
    assert snapshot.unsaved_attempts == {"evt-2": 1}  # written only when it settles
    assert snapshot.in_flight == frozenset()
    assert [letter.event_id for letter in snapshot.dead_letters] == ["evt-1"]
    assert snapshot.counters == {"received": 4, "delivered": 1, "dead_lettered": 1}
    assert json.loads(snapshot.facts[facts.LAST_MODEL]) == {"name": "blazeface", "sha256": "ab" * 32}


def test_events_being_sent_show_as_in_flight(queue, make_event):
    queue.put(make_event(1))
    queue.claim(1)
    assert queue.snapshot().in_flight == frozenset({"evt-1"})


def test_dead_letters_are_listed_newest_first(queue, make_event, now):
    for n in range(3):
        queue.put(make_event(n))
    queue.claim(3)
    for n in (2, 0, 1):
        now[0] += 1
        queue.dead_letter(f"evt-{n}", 400, "no")
    assert [letter.event_id for letter in queue.snapshot().dead_letters] == ["evt-1", "evt-0", "evt-2"]


def test_the_unsent_heartbeat_shows_in_the_outbox(queue):
    queue.put_message("heartbeat", "hb-1", {"type": "heartbeat"})
    [message] = queue.snapshot().outbox
    assert (message.kind, message.message_id, json.loads(message.document)) == ("heartbeat", "hb-1",
                                                                               {"type": "heartbeat"})


def test_a_read_only_connection_sees_the_same_while_the_queue_is_open(queue, make_event):
    queue.put(make_event(1))
    queue.claim(1)
    reader = db.connect_read_only(queue.directory)
    try:
        stored = read_snapshot(reader)
    finally:
        reader.close()
    assert stored.events == queue.snapshot().events
    assert stored.in_flight == frozenset()  # memory of the service is not on disk
