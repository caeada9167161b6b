"""Who may talk to a pipeline server: only the expected services, by their published CURVE keys.

A CURVE server socket alone accepts any client that knows the server's public key (public keys are
not secrets), so every bound pipeline socket also has a ZAP handler, this gate, deciding per handshake.
It admits a client only if its key is the one an expected service (e.g. infer, for capture's frames)
has published in the `pipeline-keys` volume, read afresh at every handshake: a client that started
before the server, or whose key was made after the server started, gets through on its next reconnect
(ZeroMQ retries by itself), never wedged.

Every refused peer is counted once, under `pipeline.refused.<kind>` in the service's health file, and
the first of each kind is logged: `unknown_key` (valid CURVE, but not an expected service's key; counted
here) and `handshake` (no CURVE at all, or not this server's key; seen through the socket's monitor).

One gate per ZeroMQ context (ZAP has one fixed endpoint per context); close it before the context.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import zmq
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.pipeline_keys import CurveServer, KeyFileError, KeyPair, read_public_key
from smartcam.common.transport import Context

ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by ZeroMQ's ZAP (RFC 27)
ZAP_VERSION = b"1.0"
POLL_MS = 100
# Refusals the ZAP handler does not see: a client without CURVE, or with another server key.
# (A ZAP refusal also fails the handshake with EVENT_HANDSHAKE_FAILED_AUTH; it is counted where it is decided.)
UNSEEN_BY_ZAP = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_monitor_numbers = itertools.count()
# ZeroMQ's protocol error codes by name, for the log (e.g. zmtp_mechanism_mismatch: a peer without CURVE).
_PROTOCOL_ERRORS: dict[int, str] = {int(getattr(zmq, name)): name.removeprefix("PROTOCOL_ERROR_").lower()
                                    for name in dir(zmq) if name.startswith("PROTOCOL_ERROR_")}


class Gate:
    """The ZAP handler of one context, plus a watch on the handshakes of its bound pipeline sockets."""

    def __init__(self, context: Context, keys_dir: Path, logger: logging.Logger, counters: Counters) -> None:
        self._context = context
        self._keys_dir = keys_dir
        self._logger = logger
        self._refused = OncePerKind(logger, counters, "pipeline.refused")
        self._clients: dict[bytes, tuple[str, ...]] = {}  # ZAP domain (the server's name) -> expected clients
        self._monitors: list[tuple[zmq.Socket[bytes], str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._zap = context.socket(zmq.REP)
        self._zap.setsockopt(zmq.LINGER, 0)
        self._zap.bind(ZAP_ENDPOINT)
        self._thread = threading.Thread(target=self._run, name="pipeline-gate", daemon=True)
        self._thread.start()

    def server(self, name: str, keys: KeyPair, clients: Sequence[str]) -> CurveServer:
        """CURVE options for `name`'s bound socket: only the services named in `clients` get through."""
        with self._lock:
            self._clients[name.encode()] = tuple(clients)
        return CurveServer(keys, name, watch=self._watch)

    def close(self) -> None:
        """Stop answering; the thread closes its sockets (call before the context is terminated)."""
        self._stopping.set()
        self._thread.join()

    def _watch(self, socket: zmq.Socket[bytes]) -> None:
        """Count the handshakes `socket` fails that ZAP does not see."""
        address = f"inproc://smartcam-gate-monitor-{next(_monitor_numbers)}"
        socket.monitor(address, UNSEEN_BY_ZAP | zmq.EVENT_MONITOR_STOPPED)
        watcher = self._context.socket(zmq.PAIR)
        watcher.setsockopt(zmq.LINGER, 0)
        watcher.connect(address)
        with self._lock:  # handed to the gate's thread; the lock is the memory barrier ZeroMQ asks for
            self._monitors.append((watcher, socket.getsockopt_string(zmq.ZAP_DOMAIN)))

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                with self._lock:
                    monitors = list(self._monitors)
                poller = zmq.Poller()
                poller.register(self._zap, zmq.POLLIN)
                for watcher, _ in monitors:
                    poller.register(watcher, zmq.POLLIN)
                ready = dict(poller.poll(POLL_MS))
                if self._zap in ready:
                    self._answer(self._zap.recv_multipart())
                for watcher, domain in monitors:
                    if watcher in ready:
                        self._on_monitor_event(watcher, domain)
        finally:
            self._zap.close(linger=0)
            with self._lock:
                for watcher, _ in self._monitors:
                    watcher.close(linger=0)
                self._monitors.clear()

    def _answer(self, request: list[bytes]) -> None:
        """One ZAP request: [version, request id, domain, address, identity, mechanism, credentials...]."""
        if len(request) < 6:  # not from ZeroMQ itself; answered anyway, as the REP socket must
            self._logger.warning("refused a malformed ZAP request (%d parts)", len(request))
            self._zap.send_multipart([ZAP_VERSION, request[1] if len(request) > 1 else b"", b"400", b"malformed",
                                      b"", b""])
            return
        _, request_id, domain, address, _, mechanism, *credentials = request
        try:
            admitted = mechanism == b"CURVE" and len(credentials) == 1 and self._admits(domain, address, credentials[0])
        except Exception:  # never leave a handshake unanswered (ZAP's REP socket would wedge): refuse it
            self._logger.exception("could not check a peer on %s's pipeline socket; refused it",
                                   domain.decode(errors="replace"))
            admitted = False
        status, text = (b"200", b"OK") if admitted else (b"400", b"not a key of this device's pipeline")
        self._zap.send_multipart([ZAP_VERSION, request_id, status, text, b"", b""])

    def _admits(self, domain: bytes, address: bytes, client_key: bytes) -> bool:
        with self._lock:
            clients = self._clients.get(domain, ())
        key = z85.encode(client_key)
        for client in clients:
            try:
                if read_public_key(self._keys_dir, client) == key:
                    return True
            except KeyFileError as error:
                self._refused.report("bad_key_file", f"cannot check a peer against {client}'s key: {error}")
        server = domain.decode(errors="replace")
        self._refused.report(
            "unknown_key",
            f"refused a peer at {address.decode(errors='replace')} on {server}'s pipeline socket: its CURVE key "
            f"{key.decode()[:8]}… is not the published key of {' or '.join(clients) or 'any expected service'} in "
            f"{self._keys_dir} (a peer that is not part of this device, or a service still holding a key from before "
            "a key rotation: restart capture, infer and the uploader)")
        return False

    def _on_monitor_event(self, watcher: zmq.Socket[bytes], server: str) -> None:
        event = parse_monitor_message(watcher.recv_multipart())
        if event["event"] == zmq.EVENT_MONITOR_STOPPED:  # the server socket was closed
            with self._lock:
                self._monitors = [(w, d) for w, d in self._monitors if w is not watcher]
            watcher.close(linger=0)
            return
        peer = event["endpoint"].decode(errors="replace") if isinstance(event["endpoint"], bytes) else ""
        self._refused.report(
            "handshake",
            f"refused a peer on {server}'s pipeline socket {peer}: its CURVE handshake failed "
            f"({_PROTOCOL_ERRORS.get(event['value'], event['value'])}): "
            "a peer without this device's keys, or one holding a public key of "
            f"{server} from before a key rotation (restart it)")
