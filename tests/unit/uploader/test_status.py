"""`smartcam status`: figures read from the queue database, consistent, while the service has it open."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartcam.uploader import status
from smartcam.uploader.queue import EventQueue, StoreRefusedError

REPO = Path(__file__).resolve().parents[3]
KB = 1024


@pytest.fixture
def busy_queue(tmp_path, logger, monkeypatch, make_event):
    """A queue that has seen every fate: delivered, dead-lettered, evicted, refused, duplicate, still queued."""
    queue = EventQueue(tmp_path / "queue", 4 * KB, logger)
    image = b"x" * KB
    for n in range(5):
        queue.put(make_event(n, sample=n == 0, image=image))  # the fifth evicts the sample evt-0
    queue.put(make_event(1, image=image))  # a resend
    for item in queue.claim(2):  # evt-1, evt-2
        queue.mark_delivered(item.event_id)
    [item] = queue.claim(1)  # evt-3
    queue.dead_letter(item.event_id, 400, "rejected")
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda _fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
        with pytest.raises(StoreRefusedError):
            queue.put(make_event(9, image=image))
    yield queue
    queue.close()


def test_json_figures_add_up(busy_queue, capsys):
    assert status.main(["--json", "--queue-dir", str(busy_queue.directory)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["received"] == 5
    assert document["delivered"] == 2
    assert document["queued"] == 1
    assert document["dead_letter"] == 1
    assert document["evicted"] == {"over_budget_sample": 1}
    assert document["refused"] == 1
    assert document["duplicates"] == 1
    assert document["received"] == (document["delivered"] + document["queued"] + document["dead_letter"]
                                    + sum(document["evicted"].values()))
    assert document["balanced"] is True
    assert document["oldest_queued_age_s"] >= 0
    assert [letter["event_id"] for letter in document["recent_dead_letters"]] == ["evt-3"]


def test_the_table_names_every_figure(busy_queue, capsys):
    assert status.main(["--queue-dir", str(busy_queue.directory)]) == 0
    table = capsys.readouterr().out
    for line in ("received       5", "delivered      2", "queued         1", "dead letters   1",
                 "evicted        1  (over_budget_sample 1)", "refused        1", "accounted for  yes",
                 "evt-3", "rejected"):
        assert line in table


def test_the_command_line_runs_while_the_service_holds_the_database(busy_queue):
    environment = {**os.environ, "SMARTCAM_QUEUE_DIR": str(busy_queue.directory),
                   "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("common", "services/uploader"))}
    result = subprocess.run([sys.executable, "-m", "smartcam.uploader.status", "--json"], env=environment,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["received"] == 5


def test_a_missing_queue_is_explained(tmp_path, capsys):
    assert status.main(["--queue-dir", str(tmp_path / "nowhere")]) == 1
    error = capsys.readouterr().err
    assert "no queue database" in error
    assert "SMARTCAM_QUEUE_DIR" in error


def test_the_smartcam_command_runs_status_and_explains_its_usage(busy_queue):
    environment = {**os.environ, "SMARTCAM_QUEUE_DIR": str(busy_queue.directory),
                   "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("common", "services/uploader"))}

    def smartcam(*args):
        return subprocess.run([sys.executable, "-m", "smartcam.uploader.cli", *args], env=environment,
                              capture_output=True, text=True, timeout=30, check=False)

    result = smartcam("status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    for name in ("received", "delivered", "queued", "dead_letter", "evicted", "refused", "oldest_queued_age_s",
                 "retried", "disk_free_bytes", "heartbeats"):
        assert name in document
    unknown = smartcam("frobnicate")
    assert unknown.returncode == 2
    assert "usage: smartcam {status}" in unknown.stderr
