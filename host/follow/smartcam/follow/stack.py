"""What applying a commit does to the host and the compose stack, through the commit's own tools.

Each deployed tree carries `host/postinstall` (its idempotent host steps: firewall, configuration, the cmds
venv, units) and `host/compose` (the device's one compose command line). The follower runs them with a
clean environment, so the settings in force are the tree's `host/channel.env` and the device's env files,
never values inherited from the follower's own start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smartcam.follow.settings import FollowSettings

OUTPUT_TAIL_CHARS = 1500
POSTINSTALL_TIMEOUT_S = 1800.0
QUICK_TIMEOUT_S = 120.0


class CommitRejectedError(Exception):
    """The commit cannot work on this device; found before anything changed."""


class StepFailedError(Exception):
    """A step of applying the commit failed (host steps, or the stack did not become healthy)."""


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    text = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part and part.strip())
    return text[-OUTPUT_TAIL_CHARS:] or f"exit code {result.returncode}"


class Stack:
    def __init__(self, settings: FollowSettings) -> None:
        self._settings = settings

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
               "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root"),
               "SMARTCAM_HOST_CONFIG_DIR": str(self._settings.host_config_dir),
               "SMARTCAM_COMPOSE_PROJECT": self._settings.compose_project}
        if "DOCKER_HOST" in os.environ:
            env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        return env

    def _run(self, command: list[str], timeout_s: float,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                  env={**self._env(), **(extra_env or {})}, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            output = (error.stdout or b"")
            text = output.decode(errors="replace") if isinstance(output, bytes) else output
            return subprocess.CompletedProcess(command, 124, text, f"timed out after {timeout_s:.0f}s")
        except OSError as error:
            return subprocess.CompletedProcess(command, 127, "", f"cannot run {command[0]}: {error}")

    def compose(self, tree: Path, *args: str, timeout_s: float = QUICK_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return self._run([str(tree / "host" / "compose"), *args], timeout_s)

    def check(self, tree: Path) -> None:
        """Refuse a commit whose stack cannot start: compose.yaml must parse, and every image must be at hand."""
        if not (tree / "host" / "compose").is_file() or not (tree / "host" / "postinstall").is_file():
            raise CommitRejectedError("the commit has no host/compose or host/postinstall; it is not a smartcam tree")
        listed = self.compose(tree, "config", "--format", "json")
        if listed.returncode != 0:
            raise CommitRejectedError(f"its compose configuration does not parse: {_tail(listed)}")
        try:
            services = json.loads(listed.stdout).get("services") or {}
        except ValueError:
            raise CommitRejectedError("its compose configuration cannot be read back as JSON") from None
        for name, service in sorted(services.items()):
            image = service.get("image") if isinstance(service, dict) else None
            if not image or self._run(["docker", "image", "inspect", image], QUICK_TIMEOUT_S).returncode == 0:
                continue
            pulled = self._run(["docker", "pull", "--quiet", image], self._settings.checkout_health_timeout_s)
            # Without a registry prefix an image with a build section is built by `compose up` on this device.
            if pulled.returncode != 0 and not ("build" in service and not _from_registry(image)):
                raise CommitRejectedError(f"its service {name} names the image {image}, which is not on the device "
                                          f"and cannot be pulled: {_tail(pulled)}")

    def apply_host(self, tree: Path) -> None:
        """Run the tree's postinstall host steps (idempotent; they change only what differs)."""
        command = [str(tree / "host" / "postinstall"), "--update-host"]
        if self._settings.postinstall_root is not None:
            command.append(f"--root={self._settings.postinstall_root}")
        result = self._run(command, POSTINSTALL_TIMEOUT_S)
        if result.returncode != 0:
            raise StepFailedError(f"host/postinstall --update-host failed: {_tail(result)}")

    def self_test(self, tree: Path) -> None:
        """The tree's host services must start: a follower that cannot would never receive the fix."""
        path = ":".join(str(tree / part) for part in ("common", "host/follow", "host/cmds"))
        result = self._run([sys.executable, "-m", "smartcam.follow", "--self-test", str(tree)], QUICK_TIMEOUT_S,
                           {"PYTHONPATH": path})
        if result.returncode != 0:
            raise StepFailedError(f"its host services fail their self-test (python3 -m smartcam.follow --self-test): "
                                  f"{_tail(result)}")

    def restart_units(self) -> None:
        units = self._settings.restart_units
        if units and self._settings.postinstall_root is None:
            result = self._run(["systemctl", "try-restart", *units], QUICK_TIMEOUT_S)
            if result.returncode != 0:
                raise StepFailedError(f"systemctl try-restart {' '.join(units)} failed: {_tail(result)}")

    def up(self, tree: Path) -> None:
        """Bring the stack to the tree's configuration and wait until every service is healthy."""
        timeout = self._settings.checkout_health_timeout_s
        result = self.compose(tree, "up", "--detach", "--remove-orphans", "--wait", "--wait-timeout",
                              str(round(timeout)), timeout_s=timeout + POSTINSTALL_TIMEOUT_S)
        if result.returncode != 0:
            raise StepFailedError(f"the stack did not become healthy within {timeout:.0f}s "
                             f"(SMARTCAM_CHECKOUT_HEALTH_TIMEOUT_S): {_tail(result)}")


def _from_registry(image: str) -> bool:
    """A name with a registry host (`host:port/…`, `host.domain/…`) is pulled; others may be built locally."""
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")
