"""The real process killed with SIGKILL after acknowledging: every acknowledged event is still there on restart."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from smartcam.common.counters import Counters
from smartcam.common.events import EventSender
from smartcam.uploader import status

from .conftest import ScriptedTarget, as_infer

REPO = Path(__file__).resolve().parents[3]


def free_tcp_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def launch(tmp_path):
    processes = []

    def start(upload_url, endpoint):
        environment = {key: value for key, value in os.environ.items() if not key.startswith("SMARTCAM_")}
        environment.update({
            "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("common", "services/uploader")),
            "SMARTCAM_UPLOAD_URL": upload_url, "SMARTCAM_EVENTS_ENDPOINT": endpoint,
            "SMARTCAM_QUEUE_DIR": str(tmp_path / "queue"), "SMARTCAM_HEALTH_FILE": str(tmp_path / "health.json"),
            "SMARTCAM_CONFIG_DIR": str(tmp_path / "etc"), "SMARTCAM_LEGACY_URL_FILE": str(tmp_path / "esb_url"),
            "SMARTCAM_BACKOFF_BASE_S": "0.05", "SMARTCAM_BACKOFF_CAP_S": "0.2",
            "SMARTCAM_PIPELINE_KEYS_DIR": str(tmp_path / "pipeline-keys"), "SMARTCAM_CAMERA_ID": "cam-1",
        })
        process = subprocess.Popen([sys.executable, "-m", "smartcam.uploader"], env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_acknowledged_events_survive_sigkill_and_are_delivered_after_restart(launch, tmp_path, logger, make_event,
                                                                            wait_until):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    http_port = free_tcp_port()
    upload_url = f"http://127.0.0.1:{http_port}/events"  # nothing listens yet: events stay queued
    first = launch(upload_url, endpoint)
    context = zmq.Context()
    counters = Counters()
    sender = EventSender(context, endpoint, counters, logger, max_unacked=50, ack_timeout_s=5,
                         curve=as_infer(tmp_path / "pipeline-keys"))
    try:
        for n in range(20):
            sender.send(make_event(n, sample=n % 3 == 0))
        assert wait_until(lambda: (sender.poll(0.02), sender.unacked == 0)[1], timeout_s=15)
    finally:
        sender.close()
        context.destroy(linger=0)
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    after_crash = status.collect(tmp_path / "queue")
    assert (after_crash["received"], after_crash["queued"], after_crash["balanced"]) == (20, 20, True)

    server = ScriptedTarget(port=http_port)
    try:
        second = launch(upload_url, endpoint)
        assert wait_until(lambda: len(set(server.delivered_ids())) == 20, timeout_s=15)
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
    finally:
        server.close()
    assert sorted(set(server.delivered_ids())) == sorted(f"evt-{n}" for n in range(20))
    final = status.collect(tmp_path / "queue")
    assert (final["received"], final["delivered"], final["queued"], final["balanced"]) == (20, 20, 0, True)
