"""The upload rate limit: after a request of n bytes, the next one waits until n / rate seconds have passed.

After an outage the whole backlog would otherwise go out at once and fill a thin, metered link.
The bytes counted are the bytes on the wire of each request (request line, headers, body: see
`wire_bytes`), heartbeats included; one request itself still goes at the link's speed, so the
rate holds on average over several requests, which is what a data plan or a shared 2G link sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests


class Pace:
    """Spaces requests so the average rate stays at or below `rate_bps`; 0 = unlimited (never waits)."""

    def __init__(self, rate_bps: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_bps
        self._monotonic = monotonic
        self._lock = threading.Lock()  # several requests may be in flight (max_in_flight)
        self._next_free = monotonic()

    def wait_turn(self, size: int, stop: threading.Event) -> bool:
        """Wait until a request of `size` bytes may go, and book its share of the rate.

        False if `stop` was set while waiting (then nothing was sent and nothing should be).
        """
        if self._rate <= 0:
            return not stop.is_set()
        with self._lock:
            now = self._monotonic()
            turn = max(now, self._next_free)
            self._next_free = turn + size / self._rate
        return not stop.wait(max(0.0, turn - now))


def wire_bytes(request: requests.PreparedRequest) -> int:
    """Bytes of `request` on the wire: request line, headers (with the Host the HTTP client adds), body."""
    url = urlsplit(request.url or "")
    lines = [f"{request.method} {request.path_url} HTTP/1.1"]
    if not any(name.lower() == "host" for name in request.headers):
        lines.append(f"Host: {url.netloc.rsplit('@', 1)[-1]}")
    lines.extend(f"{name}: {value}" for name, value in request.headers.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    body = request.body
    size = len(body.encode() if isinstance(body, str) else body) if body is not None else 0
    return len(head) + size
