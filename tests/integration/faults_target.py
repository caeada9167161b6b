"""A scriptable REST target for the fault tests: behaves as a JSON file says, records every request.

Runs in a container on the compose `egress` network (python3 of any smartcam image):
    python faults_target.py <port> <records dir> <control dir>
Before each request it reads `<control dir>/behaviour.json` (rewritten by the test), e.g.
    {"status": 503, "retry_after": "1", "delay_s": 0, "reject_one_event": true}
- `status`: the answer to every request (default 200); `retry_after` adds that header.
- `delay_s`: wait this long before answering (to exceed the uploader's read timeout).
- `reject_one_event`: the first event key seen is answered 400 now and forever; others as above.
Each request is recorded, when it arrives (so a request the client gave up on is recorded too), as
`<records dir>/<start time>-<n>.json`: {"n", "path", "key", "event_id", "kind", "status", "bytes", "arrived"}.
`event_id` comes from the JSON body, so a test can check that the key always matches the event;
a heartbeat's whole document is kept as "heartbeat".
"""

import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT, RECORDS, CONTROL = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
BOOT = time.time_ns()  # in record names, so a restarted target never overwrites what it recorded before
numbers = itertools.count()
lock = threading.Lock()
rejected: list[str | None] = []  # the one event key answered 400 forever (reject_one_event)


def behaviour() -> dict:
    try:
        return json.loads((CONTROL / "behaviour.json").read_text())
    except (OSError, ValueError):
        return {}


def body_facts(body: bytes) -> tuple[str | None, str, dict | None]:
    """(event_id, kind, heartbeat document) from a JSON body; kind is "heartbeat" or "event"."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, "event", None
    if not isinstance(document, dict):
        return None, "event", None
    if document.get("type") == "heartbeat":
        return document.get("heartbeat_id"), "heartbeat", document
    return document.get("event_id"), "event", None


def record(document: dict) -> None:
    path = RECORDS / f"{BOOT}-{document['n']:06d}.json"
    path.with_suffix(".tmp").write_text(json.dumps(document))
    path.with_suffix(".tmp").rename(path)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        plan = behaviour()
        key = self.headers.get("Idempotency-Key")
        event_id, kind, heartbeat = body_facts(body)
        status, headers = int(plan.get("status", 200)), {}
        if plan.get("retry_after") is not None and status >= 400:
            headers["Retry-After"] = str(plan["retry_after"])
        with lock:
            number = next(numbers)
            if plan.get("reject_one_event") and kind == "event" and (not rejected or rejected[0] == key):
                rejected[:1] = [key]
                status, headers = 400, {}
        record({"n": number, "path": self.path, "key": key, "event_id": event_id, "kind": kind, "status": status,
                "bytes": len(body), "arrived": time.time(), "heartbeat": heartbeat})
        time.sleep(float(plan.get("delay_s", 0)))
        reply = b'{"error": "scripted failure"}' if status >= 400 else b'{"ok": true}'
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:
            pass  # the client gave up waiting (read timeout): it will retry under the same key

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
server.daemon_threads = True
server.serve_forever()
