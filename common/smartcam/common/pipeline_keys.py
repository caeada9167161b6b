"""CURVE key pairs of the pipeline services (capture, infer, uploader) and the socket options that use them.

Every ZeroMQ socket on the `pipeline` network is encrypted and authenticated with CURVE, so a peer
without this device's keys gets no frame and has no event stored. The keys are made on the device,
never shipped in an image: each service creates its own key pair on its first start in the shared
`pipeline-keys` volume (mounted only in those three services) and publishes its public key next to it:

    <name>.key         public key, mode 0644: what the other services read
    <name>.key_secret  public and secret key, mode 0600: only the service itself reads it

(the layout and text format of pyzmq's `zmq.auth` certificates).
Creation is atomic and race-safe: the secret file appears complete or not at all (hard link of a finished
temporary file, which fails if another process won the race; the loser then uses the winner's pair), and
the public file is always derived from the secret one. Servers check clients against the published public
keys at every handshake (`pipeline_gate`); clients wait at start until their server's public key exists.
A service whose keys in use are removed or replaced restarts itself (`restart_when_keys_change`), so
deleting the files rotates every key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from smartcam.common.files import fsync_directory, write_bytes_durably
from smartcam.common.service import FatalError

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
Z85_KEY_LENGTH = 40  # a 32-byte Curve25519 key in Z85
WAIT_POLL_S = 0.5
KEY_CHECK_INTERVAL_S = 5.0


class KeyFileError(FatalError):
    """A key file or folder the service cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair, both keys Z85-encoded (40 bytes each)."""

    public: bytes
    secret: bytes


@dataclass(frozen=True)
class CurveServer:
    """Options of a bound socket: its own key pair, the ZAP domain its clients are checked under (the server's
    name) and what watches its handshakes (`pipeline_gate.Gate.server` makes these)."""

    keys: KeyPair
    domain: str
    watch: Callable[[zmq.Socket[bytes]], None] | None = None

    def apply(self, socket: zmq.Socket[bytes]) -> None:
        socket.curve_secretkey = self.keys.secret
        socket.curve_publickey = self.keys.public
        socket.zap_domain = self.domain.encode()
        socket.curve_server = True
        if self.watch is not None:
            self.watch(socket)


@dataclass(frozen=True)
class CurveClient:
    """Options of a connecting socket: its own key pair and the public key of the server it trusts."""

    keys: KeyPair
    server_key: bytes

    def apply(self, socket: zmq.Socket[bytes]) -> None:
        socket.curve_secretkey = self.keys.secret
        socket.curve_publickey = self.keys.public
        socket.curve_serverkey = self.server_key


CurveOptions = CurveServer | CurveClient


def public_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{PUBLIC_SUFFIX}"


def secret_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{SECRET_SUFFIX}"


def own_keys(directory: Path, name: str) -> KeyPair:
    """This service's key pair: made and published on its first start, read on every later one.

    Call it before connecting: a server admits a client by the key it finds published at the handshake.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret_file = secret_path(directory, name)
        if not secret_file.exists():
            _create_secret_file(secret_file)
        keys = _read_pair(secret_file)
        published = public_path(directory, name)
        try:
            current = _read_key_or_none(published)
        except KeyFileError:
            current = None  # damaged: the secret file is the truth, publish again
        if current != keys.public:  # absent, damaged, or left by a pair that has been replaced
            write_bytes_durably(published, _certificate(keys.public, None))
    except KeyFileError:
        raise
    except OSError as error:
        raise KeyFileError(f"cannot keep {name}'s CURVE keys in {directory}: {error}; mount the pipeline-keys "
                           "volume there, writable by uid 10001") from None
    return keys


def read_public_key(directory: Path, name: str) -> bytes | None:
    """The published public key of service `name`, None while it has not made one yet."""
    return _read_key_or_none(public_path(directory, name))


def wait_for_public_key(directory: Path, name: str, stop: threading.Event, logger: logging.Logger,
                        waiting: Callable[[str], None]) -> bytes | None:
    """Block until service `name` has published its public key; None if `stop` is set first.

    A client may start before its server ever ran on this device: it logs that once and calls
    `waiting(reason)` (e.g. the health reporter's `degraded`) on every poll until the key appears.
    """
    path = public_path(directory, name)
    logged = False
    while not stop.is_set():
        key = _read_key_or_none(path)
        if key is not None:
            if logged:
                logger.info("found %s's public key", name)
            return key
        reason = f"waiting for {name}'s public key {path} ({name} makes it on its first start)"
        if not logged:
            logger.info("%s", reason)
            logged = True
        waiting(reason)
        stop.wait(WAIT_POLL_S)
    return None


def restart_when_keys_change(directory: Path, in_use: dict[str, bytes], stop: threading.Event,
                             logger: logging.Logger, interval_s: float = KEY_CHECK_INTERVAL_S) -> threading.Thread:
    """Stop the service (`stop`) once a published key it uses is gone or replaced: rotation without a restart.

    ZeroMQ keeps a socket's CURVE keys for its lifetime, so a service notices a rotation (`in_use`: service
    name -> the public key it works with, its own included) by watching the files and ends cleanly; its
    restart policy starts it again, and it takes the new keys (its own made afresh if deleted).
    """
    def watch() -> None:
        while not stop.wait(interval_s):
            for name, key in in_use.items():
                try:
                    current = read_public_key(directory, name)
                except KeyFileError:
                    current = None
                if current != key:
                    logger.warning("%s's public key in %s was %s; restarting to use the new keys", name, directory,
                                   "removed" if current is None else "replaced")
                    stop.set()
                    return

    thread = threading.Thread(target=watch, name="pipeline-keys-watch", daemon=True)
    thread.start()
    return thread


def _create_secret_file(path: Path) -> None:
    """Write a new key pair to `path` unless another process already did (atomic: link of a complete file)."""
    public, secret = zmq.curve_keypair()
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        temporary = Path(handle.name)
        try:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(_certificate(public, secret))
            handle.flush()
            os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process made the pair first: everybody uses it
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)


def _certificate(public: bytes, secret: bytes | None) -> bytes:
    """A key file in zmq.auth's certificate format."""
    kind = "Secret" if secret is not None else "Public"
    made = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [f"#   ZeroMQ CURVE {kind} Certificate, made by smartcam on {made}",
             "", "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.insert(1, "#   Only this service reads it (mode 0600); never copy it off the device.")
        lines.append(f'    secret-key = "{secret.decode()}"')
    return ("\n".join(lines) + "\n").encode()


def _read_pair(path: Path) -> KeyPair:
    public, secret = _load(path)
    if secret is None or zmq.curve_public(secret) != public:
        raise KeyFileError(f"{path} does not hold a matching CURVE key pair; delete it and restart the service "
                           "(it makes a new pair; then restart capture, infer and the uploader, see Operations)")
    return KeyPair(public, secret)


def _read_key_or_none(path: Path) -> bytes | None:
    try:
        public, _ = _load(path)
    except FileNotFoundError:
        return None
    return public


def _load(path: Path) -> tuple[bytes, bytes | None]:
    """Public and secret key (None in a public file) of a file in zmq.auth's format, checked."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error}; the pipeline-keys volume must belong to uid 10001") from None
    found: dict[bytes, bytes] = {}
    for line in text.splitlines():
        name, equals, value = line.strip().partition(b"=")
        if equals and name.strip() in (b"public-key", b"secret-key"):
            found[name.strip()] = value.strip(b" \t'\"")
    public, secret = found.get(b"public-key"), found.get(b"secret-key")
    for key in (public, secret):
        if key is not None and not _is_z85_key(key):
            raise KeyFileError(f"{path} holds a malformed key; delete it and restart the service that owns it")
    if public is None:
        raise KeyFileError(f"{path} holds no public key; delete it and restart the service that owns it")
    return public, secret


def _is_z85_key(key: bytes) -> bool:
    if len(key) != Z85_KEY_LENGTH:
        return False
    try:
        z85.decode(key)
    except (ValueError, KeyError):
        return False
    return True
