"""A container's health gate."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from smartcam.updater.docker_calls import DockerCalls
from smartcam.updater.plan import Verdict

# A container without a healthcheck counts as healthy once it has kept running this long.
NO_HEALTHCHECK_SETTLE_S = 10.0
PREVIOUS_SUFFIX = ".previous"  # the old container's name while its replacement proves itself


def name_of(container: dict[str, Any]) -> str:
    """The name in a container's inspect output."""
    return str(container["Name"]).lstrip("/")


def wait_healthy(calls: DockerCalls, container: str, timeout_s: float, heartbeat: Callable[[], None]) -> Verdict:
    """Wait for the container's own healthcheck to pass; fail fast when it reports unhealthy or exits."""
    deadline = time.monotonic() + timeout_s
    # A restored container may have restarted long ago: only restarts from now on count.
    restarts = calls.inspect_container(container).get("RestartCount", 0)
    while True:
        heartbeat()
        attrs = calls.inspect_container(container)
        state = attrs["State"]
        health = state.get("Health")
        if attrs.get("RestartCount", 0) > restarts or (not state["Running"] and not state["Restarting"]):
            error = state.get("Error") or "no error"
            return Verdict(False, f"exited with code {state.get('ExitCode')} ({error})")
        if health is None and _running_for(state) >= NO_HEALTHCHECK_SETTLE_S:
            return Verdict(True, f"running for {NO_HEALTHCHECK_SETTLE_S:.0f}s (no healthcheck)")
        if health is not None and health["Status"] == "healthy":
            return Verdict(True, "healthcheck passed")
        if health is not None and health["Status"] == "unhealthy":
            return Verdict(False, f"healthcheck failed: {_last_output(health)}")
        if time.monotonic() >= deadline:
            last = _last_output(health) if health else "still starting"
            return Verdict(False, f"not healthy within {timeout_s:.0f}s: {last}")
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
