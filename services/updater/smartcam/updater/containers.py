"""The Docker API calls the updater makes, in one place: the socket proxy allows exactly these.

create (raw, so the cloned configuration reaches the daemon unchanged), connect, start, stop,
rename, remove, inspect, wait for health, and a throwaway run for the self-test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docker.models.containers import Container
from docker.models.images import Image

import docker
from smartcam.updater.clone import ContainerSpec

# A container without a healthcheck counts as healthy once it has kept running this long.
NO_HEALTHCHECK_SETTLE_S = 10.0
PREVIOUS_SUFFIX = ".previous"  # the old container's name while its replacement proves itself


@dataclass(frozen=True)
class HealthVerdict:
    healthy: bool
    reason: str


def connect(docker_host: str) -> docker.DockerClient:
    """A client pinned to API 1.41 (Docker 20.10), so the proxy's allow-list sees stable paths."""
    return docker.DockerClient(base_url=docker_host, version="1.41", timeout=120)


def create(client: docker.DockerClient, name: str, spec: ContainerSpec) -> Container:
    """Create the container exactly as specified (the SDK's create() would re-derive and drop fields)."""
    api = client.api  # the SDK's low-level client: a raw POST of the body, with its error handling
    container_id: str = api.create_container_from_config(spec.body, name=name)["Id"]
    for network, endpoint in spec.extra_networks.items():
        ipam = endpoint.get("IPAMConfig") or {}
        api.connect_container_to_network(container_id, network, aliases=endpoint.get("Aliases"),
                                         ipv4_address=ipam.get("IPv4Address"),
                                         ipv6_address=ipam.get("IPv6Address"))
    return client.containers.get(container_id)


def name_of(container: Container) -> str:
    name: str = container.attrs["Name"]
    return name.lstrip("/")


def wait_healthy(container: Container, timeout_s: float, heartbeat: Callable[[], None]) -> HealthVerdict:
    """Wait for the container's own healthcheck to pass; fail fast when it reports unhealthy or exits."""
    deadline = time.monotonic() + timeout_s
    container.reload()
    restarts = container.attrs.get("RestartCount", 0)  # a restored container may have restarted long ago
    while True:
        heartbeat()
        container.reload()
        state = container.attrs["State"]
        health = state.get("Health")
        if container.attrs.get("RestartCount", 0) > restarts or (not state["Running"] and not state["Restarting"]):
            error = state.get("Error") or "no error"
            return HealthVerdict(False, f"exited with code {state.get('ExitCode')} ({error})")
        if health is None and _running_for(state) >= NO_HEALTHCHECK_SETTLE_S:
            return HealthVerdict(True, f"running for {NO_HEALTHCHECK_SETTLE_S:.0f}s (no healthcheck)")
        if health is not None and health["Status"] == "healthy":
            return HealthVerdict(True, "healthcheck passed")
        if health is not None and health["Status"] == "unhealthy":
            return HealthVerdict(False, f"healthcheck failed: {_last_output(health)}")
        if time.monotonic() >= deadline:
            last = _last_output(health) if health else "still starting"
            return HealthVerdict(False, f"not healthy within {timeout_s:.0f}s: {last}")
        time.sleep(1.0)


def _running_for(state: dict[str, Any]) -> float:
    text = state.get("StartedAt", "")[:26].rstrip("Z")  # nanoseconds are more than fromisoformat takes
    try:
        return time.time() - datetime.fromisoformat(text + "+00:00").timestamp()
    except ValueError:
        return 0.0


def _last_output(health: dict[str, Any]) -> str:
    log = health.get("Log") or []
    return (log[-1].get("Output") or "").strip()[-300:] if log else "no probe result yet"


def pull(client: docker.DockerClient, repository: str, digest: str, heartbeat: Callable[[], None]) -> Image:
    """Pull `repository@digest` (exactly the digest that was checked), staying healthy on a slow link."""
    for progress in client.api.pull(repository, tag=digest, stream=True, decode=True):
        heartbeat()
        if "error" in progress:
            raise docker.errors.APIError(f"pull of {repository}@{digest}: {progress['error']}")
    return client.images.get(f"{repository}@{digest}")


def run_to_completion(client: docker.DockerClient, image_id: str, command: list[str], timeout_s: float,
                      ) -> tuple[int, str]:
    """Run `command` in a throwaway, locked-down, offline container; return (exit code, output)."""
    spec = ContainerSpec({"Image": image_id, "Cmd": command, "User": "10001:10001", "Labels": {
        "smartcam.updater.throwaway": "self-test"}, "HostConfig": {
        "ReadonlyRootfs": True, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges:true"],
        "NetworkMode": "none", "Tmpfs": {"/run/smartcam": "size=1m,uid=10001,gid=10001"}}}, {})
    container = create(client, f"smartcam-updater-selftest-{uuid.uuid4().hex[:8]}", spec)
    try:
        container.start()
        try:
            result = container.wait(timeout=timeout_s)
        except Exception as error:  # requests' read timeout: the self-test hung
            return -1, f"self-test did not finish within {timeout_s:.0f}s ({error})"
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return int(result.get("StatusCode", -1)), output.strip()[-500:]
    finally:
        container.remove(force=True)
