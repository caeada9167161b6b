"""Acknowledged event channel over real ZeroMQ TCP sockets on loopback."""

import json
import time
from datetime import UTC, datetime

import zmq

from smartcam.common.counters import Counters
from smartcam.common.events import EventReceiver, EventSender
from smartcam.common.wire import Ack, Event, ModelRef, encode


def event(n):
    return Event(f"evt-{n}", "cam", n, datetime.now(UTC), None, [], ModelRef("m", "0" * 64), False, b"jpeg%d" % n)


def pump(sender, receiver, store, until, timeout_s=5.0, ack=True):
    """Run both ends until `until()` holds; the receiver acks what it 'stores'."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until():
        sender.poll(0.01)
        if receiver is None:
            continue
        received = receiver.receive(0.01)
        if received is not None:
            store.append(received.event.event_id)
            if ack:
                receiver.ack(received.peer, Ack(received.event.event_id, True))
    return until()


def test_acked_events_are_released(zmq_context, counters, logger, free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    receiver = EventReceiver(zmq_context, endpoint, Counters(), logger)
    sender = EventSender(zmq_context, endpoint, counters, logger, max_unacked=10, ack_timeout_s=5)
    stored = []
    for n in range(3):
        sender.send(event(n))
    assert pump(sender, receiver, stored, lambda: sender.unacked == 0)
    assert sorted(stored) == ["evt-0", "evt-1", "evt-2"]
    assert counters.get("events.acked") == 3
    sender.close()
    receiver.close()


def test_unacked_events_are_resent_with_the_same_id_after_the_uploader_restarts(zmq_context, counters, logger,
                                                                                 free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    receiver = EventReceiver(zmq_context, endpoint, Counters(), logger)
    sender = EventSender(zmq_context, endpoint, counters, logger, max_unacked=10, ack_timeout_s=30)
    seen_before_crash = []
    for n in range(3):
        sender.send(event(n))
    # The uploader receives the events but dies before acknowledging any of them.
    assert pump(sender, receiver, seen_before_crash, lambda: len(seen_before_crash) == 3, ack=False)
    receiver.close()
    time.sleep(0.2)
    sender.send(event(3))  # produced while the uploader is down
    assert sender.unacked == 4
    restarted = EventReceiver(zmq_context, endpoint, Counters(), logger)
    stored = []
    assert pump(sender, restarted, stored, lambda: sender.unacked == 0, timeout_s=10)
    assert sorted(set(stored)) == ["evt-0", "evt-1", "evt-2", "evt-3"]
    assert counters.get("events.resent") >= 3
    sender.close()
    restarted.close()


def test_refused_event_is_kept_and_resent(zmq_context, counters, logger, free_port, monkeypatch):
    monkeypatch.setattr("smartcam.common.events.REFUSED_RETRY_S", 0.1)
    endpoint = f"tcp://127.0.0.1:{free_port}"
    receiver = EventReceiver(zmq_context, endpoint, Counters(), logger)
    sender = EventSender(zmq_context, endpoint, counters, logger, max_unacked=10, ack_timeout_s=0.5)
    sender.send(event(1))
    answers = iter([False, True])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sender.unacked:
        sender.poll(0.01)
        received = receiver.receive(0.01)
        if received:
            receiver.ack(received.peer, Ack(received.event.event_id, next(answers), "disk full"))
    assert sender.unacked == 0
    assert counters.get("events.refused") == 1
    assert counters.get("events.acked") == 1
    sender.close()
    receiver.close()


def test_what_infer_holds_is_bounded_and_overflow_is_counted(zmq_context, counters, logger, free_port):
    sender = EventSender(zmq_context, f"tcp://127.0.0.1:{free_port}", counters, logger, max_unacked=3,
                         ack_timeout_s=30)
    for n in range(5):
        sender.send(event(n))
    assert sender.unacked == 3
    assert counters.get("events.overflow_dropped") == 2
    sender.close()


def test_receiver_drops_malformed_input_and_keeps_working(zmq_context, counters, logger, free_port):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    receiver = EventReceiver(zmq_context, endpoint, counters, logger)
    intruder = zmq_context.socket(zmq.DEALER)
    intruder.connect(endpoint)
    intruder.send_multipart([b'{"smartcam": 1, "type": "event", "event_id": "x"}', b"a", b"b"])
    intruder.send_multipart([b"\xff\xfe"])
    sender = EventSender(zmq_context, endpoint, Counters(), logger, max_unacked=10, ack_timeout_s=5)
    sender.send(event(7))
    got = []
    deadline = time.monotonic() + 5
    # The two connections race; keep receiving until both the event and the rejects have arrived.
    while time.monotonic() < deadline and not (got and counters.get("rejected.foreign")
                                                and counters.get("rejected.payload_count")):
        sender.poll(0.01)
        received = receiver.receive(0.05)
        if received:
            got.append(received.event.event_id)
    assert got == ["evt-7"]
    assert counters.get("rejected.payload_count") == 1
    assert counters.get("rejected.foreign") == 1
    intruder.close(0)
    sender.close()
    receiver.close()


def test_receiver_rejects_hostile_ids_and_times_counted_and_keeps_working(zmq_context, counters, logger,
                                                                          free_port, caplog):
    endpoint = f"tcp://127.0.0.1:{free_port}"
    receiver = EventReceiver(zmq_context, endpoint, counters, logger)
    intruder = zmq_context.socket(zmq.DEALER)
    intruder.connect(endpoint)
    good = event(1)
    for poison in [event(2), event(3), event(4), event(5)]:
        poison.event_id = {2: "poison-€", 3: "evil\r\nX-Injected: 1", 4: "p", 5: "q"}[poison.seq]
        header = json.loads(encode(poison)[0])
        if poison.seq == 4:
            header["captured_at"] = "9999-12-31T23:59:59-23:59"
        if poison.seq == 5:
            header["camera_id"] = "cam\n1"
        intruder.send_multipart([json.dumps(header).encode(), b"jpeg"])
    intruder.send_multipart(encode(good))
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not got:
        received = receiver.receive(0.05)
        if received:
            got.append(received.event.event_id)
    assert got == ["evt-1"]  # the hostile ones came first and were dropped; the good one still arrives
    assert counters.get("rejected.bad_id") == 3
    assert counters.get("rejected.bad_time") == 1
    assert sum("rejected.bad_id" in record.getMessage() for record in caplog.records) == 1  # logged once per kind
    intruder.close(0)
    receiver.close()
