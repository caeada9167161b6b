"""The updater's engine and the maintenance window, on the smallest real setup: a real registry, the real
Docker daemon, one tiny container (a few MB image made from the base image) of a compose-labelled project,
and the real `Engine` polling it.

A new release is pushed while the window is closed: the engine holds it (pending in state.json, nothing
pulled, the container untouched) and applies it on its first poll after the window opens. The window is
a cron minute and 60 s; the engine's clock is the real clock shifted so that the window opens a few
seconds after the test starts, so time really passes between the two polls and no minute is waited for.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartcam.common.contracts.base import read_document
from smartcam.common.contracts.updater_state import UpdaterState
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory
from smartcam.common.settings import load_settings
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.server import serve
from smartcam.updater.docker_calls import DockerCalls
from smartcam.updater.engine import Engine, state_dir_ready
from smartcam.updater.settings import UpdaterSettings
from smartcam.updater.state import Pending
from tests.integration.registry import Registry, build_variant, docker
from tests.signing import Signer

BASE = "debian:bookworm-slim"  # the images' own base: already on every machine that builds them
# The smallest image that can run and pass a healthcheck: sleep, true and sh with the libraries they link,
# copied out of BASE (a few MB to push instead of the whole base).
TINY = """
FROM debian:bookworm-slim AS base
RUN mkdir -p /out/bin && cp -L /bin/sleep /bin/true /bin/sh /out/bin/ \
 && for lib in $(ldd /bin/sleep /bin/sh | grep -o '/[^ ]*'); do \
      mkdir -p "/out$(dirname "$lib")"; cp -L "$lib" "/out$lib"; done
FROM scratch
COPY --from=base /out /
"""
WINDOW = "30 2 * * *"  # opens 02:30 UTC for a minute
OPENS_AT = datetime(2030, 1, 2, 2, 30, tzinfo=UTC).timestamp()
LEAD_S = 8.0  # the window opens this long (real seconds) after the first poll starts (a poll takes a moment)


@pytest.fixture
def project(tmp_path: Path, release_signer: Signer) -> Iterator[tuple[str, Registry]]:
    """A registry on loopback and a compose-labelled project name; removes every container of it afterwards."""
    name = f"i13-heartbeat-window-{uuid.uuid4().hex[:6]}"
    registry = Registry(tmp_path / "registry", release_signer)
    registry.start()
    try:
        yield name, registry
    finally:
        ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={name}").split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
        registry.stop()
        # Untag by name, never by id.
        leftovers = {f"smartcam-test/window:{name}", f"smartcam-test/window:{name}-tiny"}
        for line in docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}",
                           "--filter", f"reference={registry.prefix}smartcam/*").splitlines():
            repository, tag, digest = line.split()
            leftovers.add(f"{repository}:{tag}" if tag != "<none>" else f"{repository}@{digest}")
        subprocess.run(["docker", "rmi", *sorted(leftovers)], capture_output=True, check=False)


def _run(project: str, service: str, image: str, *extra: str) -> str:
    """A container as compose would label it, doing nothing but staying healthy."""
    return docker("run", "-d", "--name", f"{project}-{service}-1", "--label", f"com.docker.compose.project={project}",
                  "--label", f"com.docker.compose.service={service}", "--health-cmd", "true", "--health-interval",
                  "1s", "--stop-timeout", "1", *extra, image, "sleep", "infinity").strip()


def _image_of(project: str, service: str) -> str:
    return docker("inspect", "--format", "{{.Image}}", f"{project}-{service}-1").strip()


def test_an_update_waits_for_the_window_pending_in_state_json_and_is_applied_when_it_opens(
        project: tuple[str, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    name, registry = project
    ref = registry.ref("capture", "window")
    tiny = f"smartcam-test/window:{name}-tiny"
    docker("build", "-q", "-t", tiny, "-", stdin=TINY)
    registry.push(tiny, "capture", "window")
    _run(name, "capture", ref)
    # The engine runs inside the updater's container and finds its project through it; this test process is that.
    updater = _run(name, "updater", tiny)
    monkeypatch.setattr("socket.gethostname", lambda: f"{name}-updater-1")

    old_image = _image_of(name, "capture")
    release = build_variant(ref, f"smartcam-test/window:{name}", f"LABEL smartcam.test.release={name}")
    new_digest = registry.push(release, "capture", "window")

    state_dir = tmp_path / "state"
    state_dir_ready(state_dir)  # as the updater's main() does at start
    settings = load_settings(UpdaterSettings, registry=registry.prefix, channel="window", update_services="capture",
                             update_window=WINDOW, update_window_length_s=60, health_timeout_s=60,
                             updater_dir=state_dir, infer_state_dir=tmp_path / "no-infer-state",
                             health_file=tmp_path / "health.json",
                             release_signers=registry.signer.allowed_signers)
    shift = 0.0
    # The updater's calls go through docker-api's own code (in this process, managing this test's project).
    operations = Operations.connect(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), name,
                                    registry.prefix, "", logging.getLogger("test.window.docker-api"))
    api = serve(0, operations, logging.getLogger("test.window.docker-api"), Counters(), host="127.0.0.1")
    threading.Thread(target=api.serve_forever, daemon=True).start()
    request.addfinalizer(api.shutdown)
    engine = Engine(DockerCalls.connect(f"http://127.0.0.1:{api.server_address[1]}"), settings,
                    UpdateHistory(state_dir / "history.json"), logging.getLogger("test.window"), Counters(),
                    heartbeat=lambda: None, pending=Pending(), clock=lambda: time.time() + shift)
    assert engine.project == name

    started = time.time()
    shift = OPENS_AT - LEAD_S - started  # from now on the engine's clock is LEAD_S before the window opens
    assert engine.poll_once()  # the window is closed: held
    state = read_document(UpdaterState, state_dir / "state.json")
    assert state is not None
    [waiting] = state.pending
    assert (waiting.kind, waiting.target, waiting.to_ref) == ("service", "capture", new_digest)
    assert waiting.opens_at == "2030-01-02T02:30:00Z"
    assert "window" in waiting.reason
    assert _image_of(name, "capture") == old_image  # nothing replaced
    assert engine.window_opens_at == OPENS_AT

    time.sleep(max(0.0, started + LEAD_S + 0.5 - time.time()))  # the window opens
    assert engine.poll_once()
    state = read_document(UpdaterState, state_dir / "state.json")
    assert state is not None
    assert state.pending == []
    assert state.services["capture"].digest == new_digest
    assert _image_of(name, "capture") != old_image
    assert docker("inspect", "--format", "{{index .Config.Labels \"smartcam.test.release\"}}",
                  f"{name}-capture-1").strip() == name
    assert [(r.target, r.result) for r in UpdateHistory(state_dir / "history.json").records()] == [
        ("capture", "updated")]
    assert docker("inspect", "--format", "{{.State.Running}}", updater).strip() == "true"
