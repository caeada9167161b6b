"""HTTP GETs with a total deadline (connect to last byte) and a byte cap, for hostile or broken servers.

The deadline is smartcam.common.http_deadline's (the session must come from its `bounded_session`):
at the deadline each socket of the request is shut down, which ends any blocked read at once. Until
then `heartbeat` is called every `HEARTBEAT_EVERY_S`, so the updater's health stays fresh during a
long download (a stuck one is ended by the deadline, not reported healthy forever).

Redirects are followed here, not by requests, so that `check` sees every URL before it is requested
(the first one and each hop): a server cannot redirect the updater somewhere it would not go itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from urllib.parse import urljoin

import requests

from smartcam.common.http_deadline import Heartbeat, deadline

__all__ = ["HEADERS", "DeadlineExceeded", "Heartbeat", "TooLarge", "UrlCheck", "fetch_capped", "stream"]

HEARTBEAT_EVERY_S = 5.0
CONNECT_TIMEOUT_S = 15.0  # the TCP/TLS connect, within the deadline
# Compressed bodies would defeat the byte caps' purpose and gain nothing on a model file.
HEADERS = {"Accept-Encoding": "identity"}
MAX_REDIRECTS = 5
# Called with (url, the URL that redirected to it or None) before each request; raises to refuse it.
UrlCheck = Callable[[str, str | None], None]


class DeadlineExceeded(Exception):  # noqa: N818 - reads better at the raise site
    """The request did not finish within its total deadline."""


def _get(session: requests.Session, url: str, deadline_s: float, check: UrlCheck | None) -> requests.Response:
    """GET `url` (streamed), following up to MAX_REDIRECTS redirects, each URL passed to `check` first."""
    current, via = url, None
    for _ in range(MAX_REDIRECTS + 1):
        if check is not None:
            check(current, via)
        response = session.get(current, stream=True, headers=HEADERS, allow_redirects=False,
                               timeout=(min(CONNECT_TIMEOUT_S, deadline_s), deadline_s))
        target = session.get_redirect_target(response)
        if target is None:
            return response
        response.close()
        via, current = current, urljoin(response.url, target)
    raise requests.TooManyRedirects(f"{url} redirects more than {MAX_REDIRECTS} times")


def stream(session: requests.Session, url: str, deadline_s: float, chunk_bytes: int,
           heartbeat: Heartbeat | None = None, *, check: UrlCheck | None = None) -> Generator[bytes, None, None]:
    """GET `url` and yield its body in chunks; DeadlineExceeded once `deadline_s` has passed.

    Raises requests.RequestException for HTTP errors and broken connections, as requests does, and
    whatever `check` raises for a URL (or redirect) it refuses, before that URL is requested.
    """
    with deadline(deadline_s, heartbeat, HEARTBEAT_EVERY_S) as watch:
        try:
            with _get(session, url, deadline_s, check) as response:
                response.raise_for_status()
                for chunk in response.iter_content(chunk_bytes):
                    if watch.expired:
                        break
                    yield chunk
        except (requests.RequestException, OSError):
            if not watch.expired:
                raise
        if watch.expired:  # a shut-down socket may also look like a clean end of a body without a length
            raise DeadlineExceeded(f"{url} did not finish within {deadline_s:g}s")


class TooLarge(Exception):  # noqa: N818
    """The body is over the caller's byte cap; `head` is what was read (cap + 1 bytes at most)."""

    def __init__(self, message: str, head: bytes) -> None:
        super().__init__(message)
        self.head = head


def fetch_capped(session: requests.Session, url: str, deadline_s: float, max_bytes: int,
                 heartbeat: Heartbeat | None = None, *, check: UrlCheck | None = None) -> bytes:
    """GET a small document whole, reading at most `max_bytes + 1` bytes before giving up with TooLarge."""
    body = bytearray()
    chunks = stream(session, url, deadline_s, min(max_bytes + 1, 16 * 1024), heartbeat, check=check)
    try:
        for chunk in chunks:
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"{url} is over {max_bytes} bytes", bytes(body[:max_bytes + 1]))
    finally:
        chunks.close()  # ends the request at once, also when stopping early
    return bytes(body)
