"""The channel follower against real parts: a git "server" (bare repository), commits signed with real
ssh keys, the repository's own host/ folder (postinstall in its --root test mode, host/compose) and a real
one-service compose stack from the local image debian:bookworm-slim.

Tests run in importlib mode and cannot import this file: everything comes as fixtures.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory
from smartcam.follow.deployments import Deployments
from smartcam.follow.follower import Follower
from smartcam.follow.settings import FollowSettings

REPO = Path(__file__).resolve().parents[3]
BRANCH = "devrelease"
IMAGE = "debian:bookworm-slim"
MISSING_IMAGE = "127.0.0.1:1/smartcam/missing:devrelease"
CAMERA_ID = "smartcam-0123abcd"
HEALTH_TIMEOUT_S = 15.0
LOGGER_NAME = "smartcam_ft.follower"  # outside "smartcam" so nothing else configures it
TAG_LABEL = "smartcam.ft.tag"

# The one service of the test stack. It stops at once on SIGTERM (sh as PID 1 with a trap), so a
# recreate or `down` does not wait for the stop timeout.
_SERVICE = """\
services:
  cam:
    image: {image}
    stop_grace_period: 2s
    labels:
      {label}: "{tag}"
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ok; sleep infinity & wait"]
    healthcheck:
      test: ["CMD", "test", "-f", "{health_file}"]
      interval: 1s
      timeout: 1s
      retries: {retries}
"""
VARIANTS = {
    "healthy": _SERVICE.format(image=IMAGE, label=TAG_LABEL, tag="{tag}", health_file="/tmp/ok", retries=30),
    # /tmp/never is never created: unhealthy after two failed checks.
    "unhealthy": _SERVICE.format(image=IMAGE, label=TAG_LABEL, tag="{tag}", health_file="/tmp/never", retries=2),
    "missing_image": _SERVICE.format(image=MISSING_IMAGE, label=TAG_LABEL, tag="{tag}", health_file="/tmp/ok",
                                     retries=30),
    "unparsable": "services:\n  cam: [image: {tag}\n    command: {{\n",
}


def _git_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}


class Channel:
    """The channel's repository: a bare "server" and the publisher's working clone, commits signed or not."""

    def __init__(self, folder: Path, keys: dict[str, Path]) -> None:
        self.folder = folder
        self.keys = keys
        self.server = folder / "server.git"
        self.work = folder / "work"
        self.url = str(self.server)
        self._env = _git_env(folder)
        self._count = 0
        subprocess.run(["git", "init", "--quiet", "--bare", str(self.server)], check=True, env=self._env)
        subprocess.run(["git", "init", "--quiet", "-b", BRANCH, str(self.work)], check=True, env=self._env)
        for part in ("host", "common"):  # the tree's host services and the shared package they import
            shutil.copytree(REPO / part, self.work / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.git("remote", "add", "origin", self.url)

    def git(self, *args: str, signer: str | None = None) -> str:
        config = ["-c", "user.name=Publisher", "-c", "user.email=publisher@example.com", "-c", "gpg.format=ssh",
                  "-c", "commit.gpgSign=false"]
        if signer is not None:
            config += ["-c", f"user.signingkey={self.keys[signer]}"]
        result = subprocess.run(["git", "-C", str(self.work), *config, *args], capture_output=True, text=True,
                                env=self._env, check=False)
        assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def commit(self, variant: str = "healthy", signer: str | None = "trusted", tag: str | None = None,
               files: dict[str, bytes] | None = None) -> str:
        """Commit a compose.yaml of `variant` (labelled with `tag`), signed by the key `signer` or unsigned."""
        self._count += 1
        tag = tag or f"c{self._count}"
        (self.work / "compose.yaml").write_text(VARIANTS[variant].format(tag=tag))
        for name, content in (files or {}).items():
            (self.work / name).write_bytes(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", *(["-S"] if signer else []), "-m", f"{variant} {tag}",
                 signer=signer)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def push(self, force: bool = False) -> None:
        self.git("push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{BRANCH}")

    def reset(self, commit: str) -> None:
        self.git("reset", "--quiet", "--hard", commit)

    def tamper(self, commit: str) -> str:
        """A copy of the signed `commit` whose message changed after signing; the work clone moves onto it."""
        raw = subprocess.run(["git", "-C", str(self.work), "cat-file", "commit", commit], capture_output=True,
                             check=True, env=self._env).stdout
        changed = raw.replace(b"\n\nhealthy ", b"\n\nharmless ", 1)
        assert changed != raw
        forged = subprocess.run(["git", "-C", str(self.work), "hash-object", "-t", "commit", "-w", "--stdin"],
                                input=changed, capture_output=True, check=True, env=self._env).stdout.decode().strip()
        self.reset(forged)
        return forged


class Device:
    """A device's folders, the follower's settings, and the outside view of what the follower did."""

    def __init__(self, folder: Path, channel: Channel, keys: dict[str, Path]) -> None:
        self.folder = folder
        self.channel = channel
        self.project = f"smartcam-ft-{secrets.token_hex(4)}"
        self.checkout_dir = folder / "checkout"
        self.deploy_dir = folder / "deploy"
        self.config_dir = folder / "config"
        self.root = folder / "root"
        folder.mkdir(parents=True)
        self.allowed_signers = folder / "allowed_signers"
        trusted = Path(f"{keys['trusted']}.pub").read_text().split()
        self.allowed_signers.write_text(f'publisher@example.com namespaces="git" {trusted[0]} {trusted[1]}\n')
        self.config_dir.mkdir()
        (self.config_dir / "smartcam.env").write_text(f"SMARTCAM_CAMERA_ID={CAMERA_ID}\n")
        (self.config_dir / "local.env").write_text("")
        (self.root / "etc" / "smartcam").mkdir(parents=True)
        shutil.copy("/etc/os-release", self.root / "etc" / "os-release")
        (self.root / "etc" / "smartcam" / "camera_id").write_text(f"{CAMERA_ID}\n")
        (self.root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n")
        self.deploy_dir.mkdir()
        self.settings = FollowSettings(
            repo_url=channel.url, channel=BRANCH, health_file=folder / "health.json",
            checkout_dir=self.checkout_dir, deploy_dir=self.deploy_dir, allowed_signers=self.allowed_signers,
            host_config_dir=self.config_dir, checkout_health_timeout_s=HEALTH_TIMEOUT_S, checkout_fetch_timeout_s=30,
            checkout_restart_units="", compose_project=self.project, postinstall_root=self.root)
        self.logger = logging.getLogger(LOGGER_NAME)
        self.logger.setLevel(logging.DEBUG)
        self.counters = Counters()
        self.used_docker = False

    # --- the follower -----------------------------------------------------------------------

    def follower(self) -> Follower:
        """A new follower, as after a restart of the service (counters start over too)."""
        self.counters = Counters()
        return Follower(self.settings, self.logger, self.counters)

    def seed(self, commit: str) -> None:
        """Put `commit` in force as postinstall's checkout step does: fetched, unpacked, linked (no stack)."""
        deployments = Deployments(self.deploy_dir)
        deployments.repository.fetch(self.channel.url, BRANCH, 30)
        deployments.prepare(commit)
        deployments.switch(commit)

    # --- what it left -----------------------------------------------------------------------

    def current(self) -> str | None:
        link = self.deploy_dir / "current"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def status(self) -> dict:
        return json.loads((self.checkout_dir / "status.json").read_text())

    def history(self, commit: str | None = None) -> list[dict]:
        records = [asdict(r) for r in UpdateHistory(self.checkout_dir / "history.json").records()]
        return [r for r in records if commit is None or r["to_ref"] == commit]

    def state(self) -> dict:
        return json.loads((self.checkout_dir / "state.json").read_text())

    def tree_exists(self, commit: str) -> bool:
        trees = self.deploy_dir / "trees"
        return (trees / commit).exists() or (trees / f".{commit}.partial").exists()

    # --- the stack --------------------------------------------------------------------------

    def containers(self) -> list[dict]:
        """The project's containers: id, the commit tag of their configuration, state and health."""
        self.used_docker = True
        listed = subprocess.run(["docker", "compose", "-p", self.project, "ps", "--all", "--format", "json"],
                                capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        entries = json.loads(listed) if listed.startswith("[") else [json.loads(line) for line in listed.splitlines()]
        found = []
        for entry in entries:
            inspected = json.loads(subprocess.run(["docker", "inspect", entry["ID"]], capture_output=True, text=True,
                                                  check=True, timeout=60).stdout)[0]
            found.append({"id": inspected["Id"], "tag": inspected["Config"]["Labels"].get(TAG_LABEL),
                          "state": inspected["State"]["Status"],
                          "health": inspected["State"].get("Health", {}).get("Status")})
        return found

    def running(self) -> dict:
        """The one container of the stack, which must be running and healthy."""
        containers = self.containers()
        assert len(containers) == 1, containers
        assert containers[0]["state"] == "running", containers
        assert containers[0]["health"] == "healthy", containers
        return containers[0]

    def down(self) -> None:
        subprocess.run(["docker", "compose", "-p", self.project, "down", "--volumes", "--remove-orphans",
                        "--timeout", "1"], capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="session")
def docker() -> None:
    """Docker with compose and the local base image (scripts/build-base-image makes it)."""
    try:
        info = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False, timeout=30)
        image = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"these tests need Docker with the compose plugin: {error}")
    if info.returncode != 0:
        pytest.fail("these tests need Docker with the compose plugin (scripts/install-compose-plugin)")
    if image.returncode != 0:
        pytest.fail(f"these tests need the local image {IMAGE} (scripts/build-base-image)")


@pytest.fixture
def channel(tmp_path: Path, keys: dict[str, Path]) -> Channel:
    return Channel(tmp_path / "channel", keys)


@pytest.fixture
def device(tmp_path: Path, channel: Channel, keys: dict[str, Path]) -> Iterator[Device]:
    device = Device(tmp_path / "device", channel, keys)
    try:
        yield device
    finally:
        device.down()


@pytest.fixture
def stack(docker: None, device: Device) -> Device:
    """The device, for a test that brings up its compose stack (torn down with `compose down -v`)."""
    device.used_docker = True
    return device


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[..., list[str]]:
    """The follower's log lines at `level` that contain every one of `words`."""
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)

    def lines(level: int, *words: str) -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == LOGGER_NAME and r.levelno == level and all(w in r.getMessage() for w in words)]

    return lines


@pytest.fixture
def small_disk(device: Device) -> Iterator[Path]:
    """The deploy folder on its own 8 MiB tmpfs, so it can be filled up (root and mount needed)."""
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "smartcam-ft-tmpfs",
                              str(device.deploy_dir)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount permission): {mounted.stderr.strip()}")
    try:
        yield device.deploy_dir
    finally:
        for _ in range(10):
            if subprocess.run(["umount", str(device.deploy_dir)], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.5)


def fill(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system of `folder` until only about `leave_bytes` are free; returns the filler file."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(descriptor, chunk)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_bytes))
    return filler


@pytest.fixture(name="fill")
def fill_fixture() -> Callable[[Path, int], Path]:
    return fill
