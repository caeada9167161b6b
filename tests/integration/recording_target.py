"""A real REST target for the integration tests: records every request it gets, answers 200.

Runs inside a container on the compose network (python3 from any smartcam image). Each
request is written as one JSON file (`<n>.json`) into the folder given as argv[2].
"""

import base64
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

counter = itertools.count()
lock = threading.Lock()


class Recorder(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            number = next(counter)
        record = {"path": self.path, "headers": dict(self.headers.items()),
                  "body_b64": base64.b64encode(body).decode()}
        target = Path(sys.argv[2]) / f"{number:06d}.json"
        target.with_suffix(".tmp").write_text(json.dumps(record))
        target.with_suffix(".tmp").rename(target)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Recorder).serve_forever()
