"""Drive the real compose stack from tests: build once, bring up isolated projects, read results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Image tag used by the tests, so they never touch a user's images (override to run suites side by side).
TEST_CHANNEL = os.environ.get("SMARTCAM_TEST_CHANNEL", "itest")
RECORDING_TARGET = REPO / "tests/integration/recording_target.py"


def compose(*args: str, project: str, env: dict[str, str], files: list[Path], check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = ["docker", "compose", "--project-directory", str(REPO), "-p", project]
    for file in files:
        command += ["-f", str(file)]
    return subprocess.run([*command, *args], env={**os.environ, **env}, capture_output=True, text=True,
                          check=check, timeout=timeout)


def merge(base: dict, extra: dict) -> dict:
    """`extra` deep-merged into `base`: dicts merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Stack:
    """One compose project with a REST target added as service `target`.

    By default the target is `recording_target.py` (records every request, answers 200). A test
    may run another target script (`target_script`, mounted at /target/<name> and started with
    `target_args`; `target_volumes` adds mounts) and merge more compose configuration in
    (`override`), e.g. a tmpfs volume for the queue.
    """

    def __init__(self, workdir: Path, settings: dict[str, str], *, target_script: Path = RECORDING_TARGET,
                 target_args: tuple[str, ...] = ("8080", "/records"), target_volumes: tuple[str, ...] = (),
                 override: dict | None = None) -> None:
        self.project = f"smartcam-it-{uuid.uuid4().hex[:8]}"
        self.records = workdir / "records"
        self.records.mkdir(parents=True)
        self.records.chmod(0o777)  # the target runs as the images' unprivileged user
        base = {
            "services": {
                "target": {
                    "image": f"smartcam/demo-sink:{TEST_CHANNEL}",
                    "user": "10001:10001",
                    "read_only": True,
                    "command": ["python", f"/target/{target_script.name}", *target_args],
                    "volumes": [f"{target_script}:/target/{target_script.name}:ro",
                                f"{self.records}:/records", *target_volumes],
                    "networks": ["egress"],
                    "healthcheck": {"disable": True},
                },
            },
        }
        override = merge(base, override or {})
        self.override = workdir / "compose.test.yaml"
        self.override.write_text(json.dumps(override))  # JSON is valid YAML
        self.env = {"SMARTCAM_CHANNEL": TEST_CHANNEL, "COMPOSE_PROFILES": "",
                    "SMARTCAM_UPLOAD_URL": "http://target:8080/events", **settings}

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return compose(*args, project=self.project, env=self.env, files=[REPO / "compose.yaml", self.override],
                       check=check, timeout=timeout)

    def up(self, *services: str) -> None:
        self.run("up", "-d", "--no-build", *services)

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", "-t", "5", check=False)

    def logs(self, service: str = "") -> str:
        result = self.run("logs", "--no-color", *([service] if service else []), check=False)
        return result.stdout + result.stderr

    def requests(self, path: str | None = "/events") -> list[dict]:
        """What the recording target received at `path` (None: everything, heartbeats included)."""
        records = [json.loads(file.read_text()) for file in sorted(self.records.glob("*.json"))]
        return [record for record in records if path is None or record["path"] == path]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n--- logs ---\n{self.logs()}")

    def health(self, service: str) -> str:
        container = self.run("ps", "-q", service).stdout.strip()
        result = subprocess.run(["docker", "inspect", "--format", "{{json .State.Health}}", container],
                                capture_output=True, text=True, check=True)
        return result.stdout


def build_images() -> None:
    """Build every image once per test session (layers are cached between runs)."""
    env = {"SMARTCAM_CHANNEL": TEST_CHANNEL, "COMPOSE_PROFILES": "demo"}
    result = compose("build", project="smartcam-it-build", env=env, files=[REPO / "compose.yaml"], check=False,
                     timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"docker compose build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
