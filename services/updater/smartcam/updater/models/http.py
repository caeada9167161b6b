"""HTTP GETs with a total deadline (connect to last byte) and a byte cap, for hostile or broken servers.

requests' `timeout` bounds each socket read, not the request: a server dripping one byte per second
keeps a download alive forever. Here every request runs under a guard thread that, at the deadline,
shuts down each socket the request opened or reused, which ends any blocked read at once. Until then
the guard calls `heartbeat` every few seconds, so the updater's health stays fresh during a long
download (a stuck one is ended by the deadline, not reported healthy forever).

Sockets are found through the connection classes of a requests adapter (`bounded_session`), so
proxies, TLS and connection reuse keep working as in a plain `requests.Session`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Heartbeat = Callable[[], None]
HEARTBEAT_EVERY_S = 5.0
CONNECT_TIMEOUT_S = 15.0  # the TCP/TLS connect, within the deadline
# Compressed bodies would defeat the byte caps' purpose and gain nothing on a model file.
HEADERS = {"Accept-Encoding": "identity"}

_current = threading.local()


class DeadlineExceeded(Exception):  # noqa: N818 - reads better at the raise site
    """The request did not finish within its total deadline."""


class _Watch:
    """The sockets of the request running on one thread; all are shut down once the deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        _watch(self.sock)  # a kept-alive connection opened by an earlier request
        super().request(*args, **kwargs)  # type: ignore[arg-type]


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[arg-type]


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> object:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def bounded_session(session: requests.Session | None = None) -> requests.Session:
    """A session whose http(s) requests can be cut off by `deadline`."""
    session = session or requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextlib.contextmanager
def deadline(seconds: float, heartbeat: Heartbeat | None = None) -> Iterator[_Watch]:
    """Run one request on this thread within `seconds`; afterwards check `watch.expired`."""
    watch = _Watch()
    done = threading.Event()
    end = time.monotonic() + seconds

    def guard() -> None:
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                watch.expire()
                return
            if done.wait(min(remaining, HEARTBEAT_EVERY_S)):
                return
            if heartbeat is not None:
                heartbeat()

    _current.watch = watch
    thread = threading.Thread(target=guard, name="http-deadline", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        _current.watch = None
        done.set()
        thread.join()


def stream(session: requests.Session, url: str, deadline_s: float, chunk_bytes: int,
           heartbeat: Heartbeat | None = None) -> Iterator[bytes]:
    """GET `url` and yield its body in chunks; DeadlineExceeded once `deadline_s` has passed.

    Raises requests.RequestException for HTTP errors and broken connections, as requests does.
    """
    with deadline(deadline_s, heartbeat) as watch:
        try:
            with session.get(url, stream=True, headers=HEADERS,
                             timeout=(min(CONNECT_TIMEOUT_S, deadline_s), deadline_s)) as response:
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
                 heartbeat: Heartbeat | None = None) -> bytes:
    """GET a small document whole, reading at most `max_bytes + 1` bytes before giving up with TooLarge."""
    body = bytearray()
    chunks = stream(session, url, deadline_s, min(max_bytes + 1, 16 * 1024), heartbeat)
    try:
        for chunk in chunks:
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"{url} is over {max_bytes} bytes", bytes(body[:max_bytes + 1]))
    finally:
        chunks.close()  # ends the request at once, also when stopping early
    return bytes(body)
