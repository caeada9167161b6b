"""A recording REST target for the shaped-link test, run inside its network namespace (`ip netns exec`).

usage: shaped_target.py ADDRESS

Listens on ADDRESS (port chosen by the kernel), prints `ready <port>`, then one JSON line per request
it read: the bytes it took off the socket for it (request line, headers, body: the bytes on the wire),
when its first byte and its last were read (time.time(), the clock the uploader's budget periods use),
its path and Idempotency-Key. Answers 200, keep-alive.
"""

import io
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRINT_LOCK = threading.Lock()


class CountingReader(io.RawIOBase):
    """Counts the bytes read from the connection, and notes when the first of a request came."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0
        self.first_at = None

    def readable(self):
        return True

    def readinto(self, buffer):
        read = self.raw.readinto(buffer)
        if read and self.first_at is None:
            self.first_at = time.time()
        self.count += read or 0
        return read


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.counter = CountingReader(self.connection.makefile("rb", buffering=0))
        self.rfile = io.BufferedReader(self.counter, buffer_size=1)  # buffers nothing: counts what each request read

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = {"path": self.path, "key": self.headers.get("Idempotency-Key"), "bytes": self.counter.count,
                  "first_at": self.counter.first_at, "done_at": time.time()}
        self.counter.count, self.counter.first_at = 0, None
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with PRINT_LOCK:
            print(json.dumps(record), flush=True)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer((sys.argv[1], 0), Recorder)
server.daemon_threads = True
print(f"ready {server.server_address[1]}", flush=True)
server.serve_forever()
