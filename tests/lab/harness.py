"""A virtual lab for end-to-end tests: a device with systemd and its own Docker Engine, plus lab services.

Everything lives on one private Docker network, `smartcam-lab-<suffix>` (not internal: the device
reaches Debian's mirror and PyPI through it):

* `LabServices` runs three containers of one image (tests/lab/services/Dockerfile), each with a
  network alias the device resolves through Docker's DNS:
  - `lab-registry:5000`, a real Docker registry (Debian's docker-registry). The host pushes to
    `registry_push_prefix` (`127.0.0.1:<random port>/`, insecure-allowed for a loopback registry);
    the device pulls the same repositories as `lab-registry:5000/...` (insecure-registries in its
    daemon.json).
  - `lab-git:9418`, `git daemon` serving bare repositories under /srv/git, push enabled.
  - `lab-target:8080`, tests/integration/recording_target.py: answers 200 to every POST and records
    it as a JSON file in a host folder that `records()` reads.
  - `lab-dns:53`, dnsmasq forwarding to Docker's DNS. Containers inside the device cannot reach
    Docker's embedded DNS (127.0.0.11 of the device), so the device's engine gets this server's
    address as its `dns` (daemon.json): its containers then resolve the lab-* names and the Internet.
* `LabDevice` runs tests/lab/device/Dockerfile: Debian 12, systemd as PID 1, docker.io with
  fuse-overlayfs, the host's Compose v2 plugin, unprivileged but with the capabilities a real
  host/postinstall needs (SYS_ADMIN, NET_ADMIN, ...). `restart()` reboots it.

Images are cached: each is tagged with a hash of what goes into it (Dockerfile, copied files, base
image id) and only built when that tag is missing. Ports are only published on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parents[2]
LAB = Path(__file__).resolve().parent
BASE_IMAGE = os.environ.get("SMARTCAM_LAB_BASE_IMAGE", "debian:bookworm-slim")
RECORDING_TARGET = REPO / "tests/integration/recording_target.py"
PLUGIN_FOLDERS = ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
                  "/usr/lib/docker/cli-plugins", str(Path.home() / ".docker" / "cli-plugins"))
LABEL = "smartcam-lab=1"  # on every container and network the lab creates (find leftovers with it)
BUILD_TIMEOUT = 1800.0


class LabError(RuntimeError):
    """Something in the lab did not come up or a lab command failed; the message carries the logs."""


def docker(*args: str, timeout: float = 120, input: str | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the host's `docker` CLI; with `check`, raise LabError (with its output) when it fails."""
    try:
        result = subprocess.run(["docker", *args], input=input, capture_output=True, text=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired as error:
        raise LabError(f"docker {shlex.join(args)} timed out after {timeout:.0f}s") from error
    if check and result.returncode != 0:
        raise LabError(f"docker {shlex.join(args)} failed ({result.returncode}):\n"
                       f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def docker_available() -> bool:
    """True when the docker CLI is here and its engine answers."""
    return shutil.which("docker") is not None and docker("info", check=False, timeout=30).returncode == 0


def find_compose_plugin() -> Path:
    """The host's Docker Compose v2 plugin binary (copied into the device image)."""
    for folder in PLUGIN_FOLDERS:
        if (candidate := Path(folder, "docker-compose")).is_file():
            return candidate
    raise LabError(f"the lab device needs the Docker Compose v2 plugin in one of {PLUGIN_FOLDERS}")


def new_suffix() -> str:
    return uuid.uuid4().hex[:8]


def build_cached(repository: str, dockerfile: Path, files: dict[str, Path], fingerprint: bytes = b"",
                 timeout: float = BUILD_TIMEOUT) -> str:
    """Build `dockerfile` with `files` (name in the context -> source) unless it is built already.

    The tag is a hash of the Dockerfile, every file in the context, the base image's id and
    `fingerprint`, so a change to any of them builds anew and nothing else does. Returns the tag.
    """
    base_id = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE, check=False).stdout.strip()
    if not base_id:
        raise LabError(f"the lab needs the local image {BASE_IMAGE} (scripts/build-base-image builds it)")
    digest = hashlib.sha256(dockerfile.read_bytes())
    for name, source in sorted(files.items()):
        digest.update(name.encode() + b"\0" + source.read_bytes())
    digest.update(base_id.encode() + fingerprint)
    tag = f"{repository}:{digest.hexdigest()[:16]}"
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="smartcam-lab-build-") as context:
        shutil.copy(dockerfile, Path(context, "Dockerfile"))
        for name, source in files.items():
            shutil.copy(source, Path(context, name))
        docker("build", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag, context, timeout=timeout)
    return tag


def wait_for(what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.5) -> None:
    """Call `probe()` until it returns true; LabError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return
        if time.monotonic() > deadline:
            raise LabError(f"{what} within {timeout:.0f}s")
        time.sleep(interval)


@dataclass(frozen=True)
class Record:
    """One request the lab target got: its path, headers and raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body decoded as JSON."""
        return json.loads(self.body)


class LabNetwork:
    """A Docker bridge network `smartcam-lab-<suffix>` with egress (not internal)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"smartcam-lab-{new_suffix()}"
        self.created = False

    def create(self) -> LabNetwork:
        docker("network", "create", "--label", LABEL, self.name)
        self.created = True
        return self

    def remove(self) -> None:
        if self.created:
            docker("network", "rm", self.name, check=False)
            self.created = False


class LabServices:
    """Registry, git server and REST target on a lab network (see the module docstring).

    `workdir` holds the target's records (bind-mounted into the target at /records). Use as
    `services = LabServices(tmp).start()` ... `services.close()`, or as a context manager.
    """

    REGISTRY = "lab-registry"
    GIT = "lab-git"
    TARGET = "lab-target"
    DNS = "lab-dns"
    PORTS: ClassVar[dict[str, int]] = {REGISTRY: 5000, GIT: 9418, TARGET: 8080, DNS: 53}

    def __init__(self, workdir: Path, network: LabNetwork | None = None) -> None:
        self.network = network or LabNetwork()
        self.suffix = self.network.name.removeprefix("smartcam-lab-")
        self.records_dir = workdir / "records"
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.records_dir.chmod(0o777)
        self.workdir = workdir
        self.image = ""
        self.containers: dict[str, str] = {}  # alias -> container name

    # --- life cycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> LabServices:
        """Build (or reuse) the image, create the network, run and wait for the three services."""
        self.image = build_cached("smartcam-lab/services", LAB / "services/Dockerfile",
                                  {"recording_target.py": RECORDING_TARGET})
        if not self.network.created:
            self.network.create()
        commands = {
            self.REGISTRY: ["docker-registry", "serve", "/etc/lab/registry.yml"],
            self.GIT: ["git", "daemon", "--reuseaddr", "--base-path=/srv/git", "--export-all",
                       "--enable=receive-pack", "--informative-errors", "/srv/git"],
            self.TARGET: ["lab-target"],
            self.DNS: ["dnsmasq", "--keep-in-foreground", "--log-facility=-", "--user=root", "--no-resolv",
                       "--no-hosts", "--server=127.0.0.11",
                       # No cache: a lab service started again may get a new address (Docker answers TTL 600).
                       "--cache-size=0"],
        }
        try:
            for alias, command in commands.items():
                name = f"smartcam-lab-{self.suffix}-{alias.removeprefix('lab-')}"
                mounts = ["-v", f"{self.records_dir}:/records"] if alias == self.TARGET else []
                ports = [] if alias == self.DNS else ["-p", f"127.0.0.1::{self.PORTS[alias]}"]
                docker("run", "-d", "--name", name, "--label", LABEL, "--network", self.network.name,
                       "--network-alias", alias, *ports, *mounts, self.image, *command)
                self.containers[alias] = name
            for alias in commands:
                self._wait_listening(alias, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Remove the containers and the network (the images stay, as a cache)."""
        for name in self.containers.values():
            docker("rm", "-f", "-v", name, check=False)
        self.containers.clear()
        self.network.remove()

    def __enter__(self) -> LabServices:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def stop(self, alias: str) -> None:
        """Stop one service (state and records are kept); `start_service` brings it back."""
        docker("stop", "-t", "5", self.containers[alias])

    def start_service(self, alias: str, timeout: float = 30) -> None:
        """Start a stopped service again (note: its published host port changes)."""
        docker("start", self.containers[alias])
        self._wait_listening(alias, timeout)

    def stop_target(self) -> None:
        self.stop(self.TARGET)

    def start_target(self) -> None:
        self.start_service(self.TARGET)

    def stop_git(self) -> None:
        self.stop(self.GIT)

    def start_git(self) -> None:
        self.start_service(self.GIT)

    def stop_registry(self) -> None:
        self.stop(self.REGISTRY)

    def start_registry(self) -> None:
        self.start_service(self.REGISTRY)

    def logs(self, alias: str, tail: int = 100) -> str:
        result = docker("logs", "--tail", str(tail), self.containers[alias], check=False)
        return result.stdout + result.stderr

    def _wait_listening(self, alias: str, timeout: float) -> None:
        name, port = self.containers[alias], self.PORTS[alias]

        def listening() -> bool:
            # Inside the container: a published port accepts connections even with nobody behind it.
            probe = f"exec 3<>/dev/tcp/127.0.0.1/{port}"
            return docker("exec", name, "bash", "-c", probe, check=False, timeout=10).returncode == 0

        try:
            wait_for(f"{alias} listening on port {port}", listening, timeout)
            if alias == self.REGISTRY:
                wait_for("the registry answering /v2/ from the host", self._registry_answers, timeout)
        except LabError as error:
            state = docker("inspect", "--format", "{{.State.Status}} exit={{.State.ExitCode}}", name,
                           check=False).stdout.strip()
            raise LabError(f"{error}; container {name}: {state}\n{self.logs(alias)}") from None

    def _registry_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.registry_push_prefix}v2/", timeout=3) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    # --- addresses ----------------------------------------------------------------------------
    def address(self, alias: str) -> str:
        """The container's IP address on the lab network."""
        template = f"{{{{(index .NetworkSettings.Networks {json.dumps(self.network.name)}).IPAddress}}}}"
        return docker("inspect", "--format", template, self.containers[alias]).stdout.strip()

    def host_port(self, alias: str) -> int:
        """The loopback port the host reaches `alias` on (random; a new one after each start)."""
        output = docker("port", self.containers[alias], f"{self.PORTS[alias]}/tcp").stdout
        return int(output.splitlines()[0].rsplit(":", 1)[1])

    @property
    def registry_push_prefix(self) -> str:
        """Image prefix for the host's docker push, e.g. `127.0.0.1:49153/`."""
        return f"127.0.0.1:{self.host_port(self.REGISTRY)}/"

    @property
    def device_registry_prefix(self) -> str:
        """The same registry as the device pulls from it: `lab-registry:5000/`."""
        return f"{self.REGISTRY}:{self.PORTS[self.REGISTRY]}/"

    @property
    def registry_url(self) -> str:
        """The registry's HTTP API root for the host, e.g. `http://127.0.0.1:49153/v2/`."""
        return f"http://{self.registry_push_prefix}v2/"

    def git_url_from_host(self, repo: str = "smartcam") -> str:
        """`git://127.0.0.1:<port>/<repo>.git`: push/fetch from the host (git server must be running)."""
        return f"git://127.0.0.1:{self.host_port(self.GIT)}/{repo}.git"

    def git_url_for_device(self, repo: str = "smartcam") -> str:
        """`git://lab-git/<repo>.git`: the same repository as the device clones it."""
        return f"git://{self.GIT}/{repo}.git"

    @property
    def target_url_for_device(self) -> str:
        """The upload URL for the device: `http://lab-target:8080/events`."""
        return f"http://{self.TARGET}:{self.PORTS[self.TARGET]}/events"

    @property
    def target_url_from_host(self) -> str:
        """The same target from the host, e.g. `http://127.0.0.1:49155/events`."""
        return f"http://127.0.0.1:{self.host_port(self.TARGET)}/events"

    # --- git ----------------------------------------------------------------------------------
    def create_git_repo(self, repo: str = "smartcam") -> str:
        """An empty bare repository /srv/git/<repo>.git that accepts pushes; returns its host URL."""
        path = f"/srv/git/{repo}.git"
        docker("exec", self.containers[self.GIT], "sh", "-c",
               f"git init -q --bare {shlex.quote(path)} && git -C {shlex.quote(path)} config daemon.receivepack true")
        return self.git_url_from_host(repo)

    def git(self, *args: str, timeout: float = 60) -> str:
        """Run git inside the git server (e.g. `git("-C", "/srv/git/smartcam.git", "log")`)."""
        return docker("exec", self.containers[self.GIT], "git", *args, timeout=timeout).stdout

    # --- target -------------------------------------------------------------------------------
    def records(self) -> list[Record]:
        """Every request the target recorded so far, in arrival order (across target restarts)."""
        records = []
        for file in sorted(self.records_dir.glob("*/*.json")):
            raw = json.loads(file.read_text())
            records.append(Record(path=raw["path"], headers=raw["headers"], body=base64.b64decode(raw["body_b64"])))
        return records

    def clear_records(self) -> None:
        """Forget the records so far (the target keeps running)."""
        for file in self.records_dir.glob("*/*.json"):
            file.unlink()


class LabDevice:
    """A Debian 12 "device" container on the lab network: systemd as PID 1 and its own Docker Engine.

    `start()` boots it and waits for systemd and the inner engine; `exec()` runs bash inside;
    `restart()` reboots it (systemd shuts down on SIGRTMIN+3, the container starts again and boots).
    Its hostname is `hostname` at first boot; a hostname set inside (hostnamectl) survives reboots.
    """

    CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN", "NET_RAW", "MKNOD", "SYS_PTRACE", "AUDIT_WRITE")

    def __init__(self, services: LabServices, hostname: str = "smartcam-lab-device", name: str | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.services = services
        self.hostname = hostname
        self.name = name or f"smartcam-lab-{services.suffix}-device"
        self.extra_args = extra_args  # more `docker run` options, e.g. ("-v", "/src:/opt/smartcam:ro")
        self.image = ""
        self.started = False

    @staticmethod
    def build_image() -> str:
        """Build (or reuse) the device image; returns its tag `smartcam-lab/device:<hash>`."""
        plugin = find_compose_plugin()
        return build_cached("smartcam-lab/device", LAB / "device/Dockerfile",
                            {"docker-compose": plugin,
                             "lab-boot.sh": LAB / "device/lab-boot.sh",
                             "lab-boot.service": LAB / "device/lab-boot.service"},
                            fingerprint=str(plugin.stat().st_size).encode())

    def start(self, timeout: float = 180) -> LabDevice:
        """Run the device on the lab network and wait until it is booted with a working docker."""
        self.image = self.build_image()
        # The image's daemon.json plus the lab's DNS server for the inner containers (see LabServices).
        daemon_json = self.services.workdir / f"{self.name}.daemon.json"
        daemon_json.write_text(json.dumps({"storage-driver": "fuse-overlayfs",
                                           "insecure-registries": [self.services.device_registry_prefix[:-1]],
                                           "dns": [self.services.address(LabServices.DNS)]}, indent=2) + "\n")
        options = ["--cap-add=" + cap for cap in self.CAPABILITIES]
        options += ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--device", "/dev/fuse", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{daemon_json}:/etc/docker/daemon.json:ro",
                    # The inner engine's storage on a volume (the host's disk), not on the container's own
                    # overlay: fuse-overlayfs cannot write a layer's whiteouts (.wh.*) onto an overlay. Survives
                    # restarts like a disk; `docker rm -v` in close() removes it.
                    "-v", "/var/lib/docker"]
        docker("run", "-d", "--name", self.name, "--hostname", self.hostname, "--label", LABEL,
               "--network", self.services.network.name, *options, *self.extra_args, self.image)
        self.started = True
        try:
            self.wait_booted(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def wait_booted(self, timeout: float = 180) -> None:
        """Wait for `systemctl is-system-running` = running/degraded, then for `docker info` inside."""
        state = ""

        def booted() -> bool:
            nonlocal state
            result = docker("exec", self.name, "systemctl", "is-system-running", check=False, timeout=20)
            state = result.stdout.strip() or result.stderr.strip()
            return state in ("running", "degraded")

        def engine() -> bool:
            return docker("exec", self.name, "docker", "info", check=False, timeout=30).returncode == 0

        deadline = time.monotonic() + timeout
        try:
            wait_for("the device's systemd booting", booted, timeout)
            wait_for("the device's docker engine answering", engine, max(deadline - time.monotonic(), 10))
        except LabError as error:
            raise LabError(f"{error} (systemd says {state!r})\n{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        """Container state and logs, failed units, docker.service's journal: for error messages."""
        parts = [docker("inspect", "--format", "container {{.Name}}: {{.State.Status}} exit={{.State.ExitCode}}",
                        self.name, check=False).stdout.strip()]
        logs = docker("logs", "--tail", "60", self.name, check=False)
        parts.append("--- container log ---\n" + logs.stdout[-3000:] + logs.stderr[-3000:])
        if docker("inspect", "--format", "{{.State.Running}}", self.name, check=False).stdout.strip() == "true":
            parts.append("--- failed units ---\n" + self.exec("systemctl --failed --no-pager", timeout=20).stdout)
            parts.append("--- docker.service ---\n" + self.journal("docker.service", 80))
            parts.append("--- containerd.service ---\n" + self.journal("containerd.service", 30))
        return "\n".join(parts)

    def exec(self, cmd: str, timeout: float = 60, input: str | None = None,
             check: bool = False) -> subprocess.CompletedProcess[str]:
        """`bash -c cmd` inside the device as root; with `check`, LabError (with output) on failure."""
        args = ["exec", *(["-i"] if input is not None else []), self.name, "bash", "-c", cmd]
        result = docker(*args, timeout=timeout, input=input, check=False)
        if check and result.returncode != 0:
            raise LabError(f"in the device: {cmd!r} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def restart(self, timeout: float = 180) -> None:
        """Reboot: `docker restart` (systemd shuts down cleanly), then wait for the boot as in start()."""
        docker("restart", "-t", "60", self.name, timeout=120)
        self.wait_booted(timeout)

    def journal(self, unit: str | None = None, lines: int = 100) -> str:
        """The last `lines` of the device's journal (of `unit` when given), current boot and earlier."""
        selector = f"-u {shlex.quote(unit)}" if unit else ""
        result = self.exec(f"journalctl --no-pager -n {int(lines)} {selector}", timeout=30)
        return result.stdout + result.stderr

    def load_image(self, ref: str, timeout: float = 600) -> None:
        """Copy a host image into the device's engine (`docker save | docker exec -i ... docker load`)."""
        with tempfile.TemporaryFile() as archive:
            save = subprocess.run(["docker", "save", ref], stdout=archive, stderr=subprocess.PIPE, timeout=timeout,
                                  check=False)
            if save.returncode != 0:
                raise LabError(f"docker save {ref} failed: {save.stderr.decode()[-2000:]}")
            archive.seek(0)
            load = subprocess.run(["docker", "exec", "-i", self.name, "docker", "load"], stdin=archive,
                                  capture_output=True, timeout=timeout, check=False)
        if load.returncode != 0:
            raise LabError(f"docker load of {ref} in the device failed: {load.stderr.decode()[-2000:]}")

    def copy_in(self, source: Path, destination: str) -> None:
        """`docker cp` a host file or folder into the device."""
        docker("cp", str(source), f"{self.name}:{destination}", timeout=300)

    def close(self) -> None:
        """Remove the device container (its inner engine's data goes with it)."""
        if self.started:
            docker("rm", "-f", "-v", self.name, check=False, timeout=120)
            self.started = False

    def __enter__(self) -> LabDevice:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
