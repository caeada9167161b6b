"""A total time limit per upload attempt, so a server that drips its reply cannot hold the queue.

Socket timeouts bound each read, not the exchange: one byte every few seconds never trips a 60 s
read timeout, and one attempt can then last for minutes (a dripped status line, headers or body).
While an attempt runs under `AttemptDeadline`, the socket that carries it registers itself (a new
one as soon as it is connected, so a dripped TLS handshake is covered too; a kept-alive one when it
is reused; `DeadlineAdapter` makes the session's connections do so). When the deadline passes, a
timer shuts that socket down, the blocked read or write fails at once, and the attempt counts as failed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.poolmanager import PoolManager
from urllib3.poolmanager import pool_classes_by_scheme as default_pool_classes

_RECHECK_S = 0.1  # an expired attempt still connecting: look for its socket again this soon
_current = threading.local()


class AttemptDeadline:
    """`with AttemptDeadline(s):` around one request and the reading of its reply (same thread)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._find_socket: Callable[[], socket.socket | None] = lambda: None
        self._done = False
        self._timer: threading.Timer | None = None
        self._deadline = 0.0

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def __enter__(self) -> AttemptDeadline:
        self._deadline = time.monotonic() + self.seconds
        _current.attempt = self
        self._arm(self.seconds)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        _current.attempt = None
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()

    def watch(self, find_socket: Callable[[], socket.socket | None]) -> None:
        """Where to find the socket now carrying this attempt (None while it is not connected yet)."""
        with self._lock:
            self._find_socket = find_socket

    def _arm(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._find_socket()
            if sock is None:  # not connected yet (the connect timeout bounds that): try again shortly
                self._arm(_RECHECK_S)
                return
        with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
            # socket.socket's own shutdown, also for a TLS socket: it only wakes the blocked call,
            # without touching the TLS state another thread is using.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _register(find_socket: Callable[[], socket.socket | None]) -> None:
    attempt = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.watch(find_socket)


class _Watched(HTTPConnection):
    """Registers the TCP socket when it is made (before any TLS handshake), and on each request."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(lambda: sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _register(lambda: self.sock)
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
    """requests' adapter whose connections take part in `AttemptDeadline` (direct and HTTP-proxied)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_pools(manager)
        return manager


def _watch_pools(manager: PoolManager) -> None:
    if manager.pool_classes_by_scheme == default_pool_classes:  # a SOCKS manager keeps its own classes
        manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
