"""A total deadline per HTTP request (connect to last byte), so a server that drips its reply cannot hold us.

Only for services that install `requests` (the uploader and the updater): it is not in
common/requirements.txt, so capture and infer must not import this module.

requests' `timeout` bounds each socket read, not the exchange: one byte every few seconds never trips a
60 s read timeout, and one request can then last for minutes (a dripped status line, headers or body).
While a request runs under `deadline`, each socket that carries it registers itself: a new one as soon
as it is connected (before any TLS handshake, so a dripped handshake is covered too), a kept-alive one
when it is reused. The connection classes of `DeadlineAdapter` (`bounded_session`) do that, so proxies,
TLS and keep-alive keep working as in a plain `requests.Session`. At the deadline a guard thread shuts
every such socket down and the blocked read or write fails at once; a socket registered later is shut
as soon as it registers, and while none is connected yet the guard looks again shortly. Until the
deadline the guard calls `heartbeat` every few seconds, so a caller's health stays fresh during a long
download (a stuck one is ended by the deadline, not reported healthy forever).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.poolmanager import PoolManager
from urllib3.poolmanager import pool_classes_by_scheme as default_pool_classes

Heartbeat = Callable[[], None]
SocketFinder = Callable[[], socket.socket | None]
HEARTBEAT_EVERY_S = 5.0  # the default; a caller may pass its own
RECHECK_S = 0.1  # expired but not connected yet: look for the request's socket again this soon

_current = threading.local()


class Watch:
    """The sockets of the request running on one thread; all are shut down once its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._finders: list[SocketFinder] = []
        self._done = False

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def add(self, find_socket: SocketFinder) -> None:
        """Where to find a socket carrying this request (None while it is not connected yet)."""
        with self._lock:
            if self._done:
                return
            self._finders.append(find_socket)
            if not self.expired:
                return
        _shut(find_socket())

    def expire(self) -> bool:
        """Shut every socket found; False while one is not connected yet (the guard then looks again)."""
        with self._lock:
            if self._done:
                return True
            self.expired = True
            found = [find() for find in self._finders]
        for sock in found:
            _shut(sock)
        return bool(found) and None not in found

    def close(self) -> None:
        """The request is over: its sockets (perhaps kept alive for the next one) are left alone from now on."""
        with self._lock:
            self._done = True


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
        # socket.socket's own shutdown, also for a TLS socket: it only wakes the blocked call,
        # without touching the TLS state another thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextlib.contextmanager
def deadline(seconds: float, heartbeat: Heartbeat | None = None,
             heartbeat_every_s: float | None = None) -> Iterator[Watch]:
    """Run one request (and the reading of its reply) on this thread within `seconds`.

    Afterwards, or while reading, `watch.expired` says whether the deadline cut it short: a shut-down
    socket may also look like a clean end of a body without a length.
    """
    watch = Watch(seconds)
    done = threading.Event()
    every = HEARTBEAT_EVERY_S if heartbeat_every_s is None else heartbeat_every_s

    def guard() -> None:
        while (remaining := watch.remaining()) > 0:
            if done.wait(remaining if heartbeat is None else min(remaining, every)):
                return
            if heartbeat is not None:
                heartbeat()
        while not watch.expire() and not done.wait(RECHECK_S):
            pass

    previous = getattr(_current, "watch", None)
    _current.watch = watch
    thread = threading.Thread(target=guard, name="http-deadline", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        _current.watch = previous
        watch.close()
        done.set()
        thread.join()


def _register(find_socket: SocketFinder) -> None:
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(find_socket)


class _Watched(HTTPConnection):
    """Registers the TCP socket when it is made (before any TLS handshake), and on each request."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(lambda: sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(lambda: self.sock)  # a kept-alive connection, or one connected (and TLS-wrapped) already
        super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections take part in `deadline` (direct and HTTP-proxied)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)  # typed Any in types-requests
        _watch_pools(manager)
        return manager


def _watch_pools(manager: PoolManager) -> None:
    if manager.pool_classes_by_scheme == default_pool_classes:  # a SOCKS manager keeps its own classes
        manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)


def bounded_session(session: requests.Session | None = None, **adapter_kwargs: Any) -> requests.Session:
    """`session` (or a new one) with http(s) requests that `deadline` can cut off; kwargs go to the adapter."""
    session = session or requests.Session()
    adapter = DeadlineAdapter(**adapter_kwargs)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
