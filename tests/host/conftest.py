"""Real keys (ssh-keygen), real files and a real loopback HTTP server for the host-side tests."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartcam.cmds.settings import CmdsSettings
from smartcam.cmds.signature import NAMESPACE

REPO = Path(__file__).resolve().parents[2]


def make_key(folder: Path, name: str) -> Path:
    """A fresh Ed25519 key pair; returns the private key path (public key is PATH.pub)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def sign(file: Path, private_key: Path) -> Path:
    """Sign exactly as an operator does (host/README.md); returns FILE.sig."""
    signature = Path(f"{file}.sig")
    signature.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(private_key), "-n", NAMESPACE, str(file)],
                   check=True, capture_output=True)
    return signature


@pytest.fixture(name="sign")
def sign_fixture() -> Callable[[Path, Path], Path]:
    """Tests run in importlib mode and cannot import conftest: the signer comes as a fixture."""
    return sign


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {"trusted": make_key(folder, "trusted"), "other": make_key(folder, "other")}


@pytest.fixture
def write_signed(tmp_path: Path, keys: dict[str, Path]) -> Callable[..., Path]:
    """Write custom_cmds text into a served folder and sign it with the trusted key (or `key`)."""

    def write(text: str, key: str = "trusted", folder: Path | None = None) -> Path:
        target = (folder or tmp_path / "served") / "custom_cmds"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        sign(target, keys[key])
        return target

    return write


@pytest.fixture
def settings_for(tmp_path: Path, keys: dict[str, Path]) -> Callable[..., CmdsSettings]:
    def make(source: str | Path, **overrides: Any) -> CmdsSettings:
        values: dict[str, Any] = {
            "custom_cmds_source": str(source), "public_key": Path(f"{keys['trusted']}.pub"),
            "cmds_dir": tmp_path / "state", "catch_up_window_s": 3600.0, "command_timeout_s": 10.0,
        }
        values.update(overrides)
        return CmdsSettings(**values)

    return make


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving a folder: (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
