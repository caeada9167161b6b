"""Fault-test tooling over the real compose stack: a scriptable target, the uploader's ledger, infer's counts.

`FaultStack` wraps `harness.Stack` with `faults_target.py` as the REST target. The test steers
the target by rewriting its behaviour file, breaks things for real (docker network disconnect,
SIGKILL, a stopped target, a tmpfs queue that fills up), then calls `settle()` and `audit()`:

- `settle()` stops capture, so infer produces no more events, and waits until infer holds no
  unacknowledged event and the uploader's queue is empty;
- `audit()` checks, by event id, that every event infer produced is delivered, dead-lettered or
  evicted with a reason, that the ledger balances, and that no event reached the target under two
  keys; it returns the facts for the test's own assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.harness import REPO, Stack

TARGET_SCRIPT = REPO / "tests/integration/faults_target.py"
# Fast enough to keep events coming and retries short; every face photo becomes an event (face model as detector).
FAST = {
    "SMARTCAM_MODEL_DIR": "/opt/smartcam/models/blazeface-short-range", "SMARTCAM_DETECT_LABELS": "face:0.7",
    "SMARTCAM_FPS": "4", "SMARTCAM_COOLDOWN_S": "0", "SMARTCAM_JPEG_MAX_SIZE": "320",
    "SMARTCAM_BACKOFF_BASE_S": "0.2", "SMARTCAM_BACKOFF_CAP_S": "2",
    "SMARTCAM_CONNECT_TIMEOUT_S": "2", "SMARTCAM_READ_TIMEOUT_S": "3",
    "SMARTCAM_HEARTBEAT_INTERVAL_S": "5", "SMARTCAM_ACK_TIMEOUT_S": "3",
}
INFER_IDLE_REPORT_S = 10.0  # infer.main.NO_FRAMES_WARNING_S
QUEUE_DIR = "/var/lib/smartcam/queue"
_LEDGER_SCRIPT = (  # the uploader's own read-only snapshot of its ledger, read while it runs
    "import json, pathlib\n"
    "from smartcam.uploader import db, snapshot\n"
    f"events = snapshot.read_snapshot(db.connect_read_only(pathlib.Path('{QUEUE_DIR}'))).events\n"
    "print(json.dumps([(e.event_id, e.state, e.last_error, e.http_status) for e in events]))\n"
)


@dataclass(frozen=True)
class Audit:
    """What `audit` found: event ids by fate, the status document, the target's records."""

    produced: int
    delivered: set[str]
    dead_letter: dict[str, int | None]
    evicted: dict[str, str]
    status: dict
    records: list[dict]

    def attempts(self, event_id: str) -> list[dict]:
        return [r for r in self.records if r["kind"] == "event" and r["key"] == event_id]


class FaultStack:
    def __init__(self, workdir: Path, settings: dict[str, str], override: dict | None = None) -> None:
        self.control = workdir / "control"
        self.control.mkdir(parents=True)
        self.control.chmod(0o777)
        self.behave()
        self.stack = Stack(workdir, {**FAST, **settings}, target_script=TARGET_SCRIPT,
                           target_args=("8080", "/records", "/control"),
                           target_volumes=(f"{self.control}:/control:ro",), override=override)

    # -- driving ---------------------------------------------------------------------------------

    def up(self) -> None:
        self.stack.up("target")  # first, so no attempt meets a target that is not listening yet
        self.stack.up("capture", "infer", "uploader")

    def behave(self, **plan: object) -> None:
        """Rewrite the target's behaviour (atomically; it reads the file on every request)."""
        temporary = self.control / "behaviour.tmp"
        temporary.write_text(json.dumps(plan))
        os.replace(temporary, self.control / "behaviour.json")

    def container(self, service: str) -> str:
        return self.stack.run("ps", "-a", "-q", service).stdout.strip()

    def network(self, name: str) -> str:
        return f"{self.stack.project}_{name}"

    def docker(self, *args: str) -> str:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout

    # -- reading ---------------------------------------------------------------------------------

    def records(self) -> list[dict]:
        return [json.loads(path.read_text()) for path in sorted(self.stack.records.glob("*.json"))]

    def event_records(self) -> list[dict]:
        return [r for r in self.records() if r["kind"] == "event"]

    def status(self) -> dict:
        result = self.stack.run("exec", "-T", "uploader", "smartcam", "status", "--json", timeout=60)
        return json.loads(result.stdout)

    def ledger(self) -> list[tuple[str, str, str | None, int | None]]:
        result = self.stack.run("exec", "-T", "uploader", "python", "-c", _LEDGER_SCRIPT, timeout=60)
        return [tuple(row) for row in json.loads(result.stdout)]

    def infer_health(self) -> dict:
        result = self.stack.run("exec", "-T", "infer", "cat", "/run/smartcam/health.json", timeout=60)
        return json.loads(result.stdout)

    def infer_counters(self) -> dict[str, int]:
        return self.infer_health()["counters"]

    def crash(self, service: str) -> None:
        """SIGKILL the service's process (PID 1's child under `init: true`), as a crash would.

        Not `docker kill`: Docker treats that as a deliberate stop and does not restart the container.
        """
        self.stack.run("exec", "-T", service, "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)", timeout=60)

    def restarts(self, service: str) -> int:
        return int(self.docker("inspect", "--format", "{{.RestartCount}}", self.container(service)).strip())

    def running(self, service: str) -> bool:
        return self.docker("inspect", "--format", "{{.State.Running}}", self.container(service)).strip() == "true"

    def wait_for(self, condition: object, timeout_s: float, what: str) -> None:
        def safe() -> bool:
            try:
                return bool(condition())  # type: ignore[operator]
            except (subprocess.CalledProcessError, ValueError, KeyError):
                return False  # e.g. the container is restarting
        self.stack.wait_for(safe, timeout_s, what)

    def wait_for_events(self, count: int, timeout_s: float = 60) -> None:
        """Until the uploader has stored `count` events (they keep coming while the test breaks things)."""
        self.wait_for(lambda: self.status()["received"] >= count, timeout_s, f"{count} events stored")

    # -- the end of every fault test -------------------------------------------------------------

    def settle(self, timeout_s: float = 60) -> None:
        """Stop producing, then wait until infer holds nothing unacknowledged and the queue is empty.

        Infer rewrites its health file (with live counters) while idle only once it has had no
        frame for NO_FRAMES_WARNING_S, so counters written before that may be stale: wait for that.
        """
        self.stack.run("stop", "-t", "5", "capture")
        stopped = time.time()

        def quiet() -> bool:
            health = self.infer_health()
            counters = health["counters"]
            return health["written_at"] > stopped + INFER_IDLE_REPORT_S \
                and counters.get("events.created", 0) == counters.get("events.acked", 0) \
                and self.status()["queued"] == 0
        started = time.monotonic()
        self.wait_for(quiet, timeout_s, "infer to hold no unacknowledged event and the queue to drain")
        self.settle_s = time.monotonic() - started

    def audit(self) -> Audit:
        """The invariants every fault test must keep (see the module docstring)."""
        status = self.status()
        counters = self.infer_counters()
        rows = self.ledger()
        records = self.records()
        produced = counters.get("events.created", 0)
        assert counters.get("events.overflow_dropped", 0) == 0, counters
        assert produced > 0, counters
        # Each event infer produced was stored exactly once (resends are recognised as duplicates).
        assert len(rows) == status["received"] == produced, (len(rows), status, counters)
        assert status["balanced"], status
        assert status["received"] == status["delivered"] + status["queued"] + status["dead_letter"] + sum(
            status["evicted"].values()), status
        by_state: dict[str, dict[str, tuple[str | None, int | None]]] = {}
        for event_id, state, reason, http_status in rows:
            by_state.setdefault(state, {})[event_id] = (reason, http_status)
        assert set(by_state) <= {"delivered", "dead_letter", "evicted"}, by_state.keys()
        delivered = set(by_state.get("delivered", {}))
        events = [r for r in records if r["kind"] == "event"]
        # One key per event: the body's event_id is always the Idempotency-Key.
        for record in events:
            assert record["key"] == record["event_id"], record
        answered_2xx = {r["key"] for r in events if 200 <= r["status"] < 300}
        # Delivered means the target said 2xx to that very event; the target got nothing unknown.
        assert delivered <= answered_2xx, sorted(delivered - answered_2xx)[:5]
        assert {r["key"] for r in events} <= {row[0] for row in rows}
        dead = {event_id: http for event_id, (_, http) in by_state.get("dead_letter", {}).items()}
        for event_id, http in dead.items():
            assert any(r["key"] == event_id and r["status"] == http for r in events), (event_id, http)
        evicted = {event_id: reason or "" for event_id, (reason, _) in by_state.get("evicted", {}).items()}
        assert all(evicted.values()), evicted
        assert status["delivered"] == len(delivered)
        assert status["dead_letter"] == len(dead)
        # Heartbeats went to their own path under their own keys, and at least one got through.
        heartbeats = [r for r in records if r["kind"] == "heartbeat"]
        assert all(r["path"] == "/heartbeat" and r["key"] == r["event_id"] for r in heartbeats), heartbeats
        assert any(r["status"] == 200 for r in heartbeats), heartbeats
        assert self.running("uploader"), self.stack.logs("uploader")
        return Audit(produced, delivered, dead, evicted, status, records)
