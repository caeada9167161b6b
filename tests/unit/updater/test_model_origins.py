"""Model downloads stay at the manifest's origin or an allow-listed one (issue 10 item 4), redirects included.

Two real HTTP servers on loopback are two origins: `publisher` serves the manifest, `internal` stands in
for a service the manifest must not reach (it answers like the Docker API proxy, with a secret). The real
model-update step runs against them; nothing may be requested from `internal`, and nothing of its answer
may reach the history or the heartbeat's view of it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from smartcam.common.counters import Counters
from smartcam.updater.models.http import MAX_REDIRECTS
from smartcam.updater.models.store import ModelStore
from smartcam.updater.models.updater import ModelUpdater
from smartcam.updater.settings import UpdaterSettings
from smartcam.uploader.host_files import read_host_facts
from tests.signing import Signer
from tests.unit.updater.test_hostile_manifests import TINY_SSD_FILE, HostileServer, good_manifest, model_dirs

LOGGER = logging.getLogger("test.origins")
SECRET = b'[{"Id": "secret-container-id", "Env": ["SMARTCAM_AUTH_TOKEN=secret-token"]}]'
MANIFEST = "/devrelease/manifest.json"


@pytest.fixture
def publisher(release_signer: Signer) -> Iterator[HostileServer]:
    served = HostileServer(release_signer)
    yield served
    served.close()


@pytest.fixture
def internal(release_signer: Signer) -> Iterator[HostileServer]:
    """Another origin, answering like the Docker API proxy would."""
    served = HostileServer(release_signer)
    served.document("/containers/json", SECRET)
    served.document("/model.tflite", TINY_SSD_FILE)
    yield served
    served.close()


def redirect(server: HostileServer, path: str, location: str, status: int = 302) -> None:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    server.routes[path] = answer


def updater(publisher: HostileServer, device: tuple, counters: Counters, **overrides: object) -> ModelUpdater:
    models, infer_state, history = device
    settings = UpdaterSettings(**{"channel": "devrelease", "model_manifest_url": f"{publisher.url}{MANIFEST}",
                                  "models_dir": models, "infer_state_dir": infer_state, "model_min_free_mb": 0,
                                  # bounds a failing test that does try to reach 169.254.169.254
                                  "model_download_timeout_s": 3.0,
                                  "release_signers": publisher.signer.allowed_signers, **overrides})
    return ModelUpdater(settings, history, LOGGER, counters)


def publish(publisher: HostileServer, url: str) -> None:
    publisher.signed(MANIFEST, json.dumps(good_manifest(url=url)).encode())


def heartbeat_view(state_dir: Path) -> str:
    """The updater's history as the uploader reads it for the heartbeat (`device` keeps it in tmp_path/state)."""
    facts = read_host_facts(state_dir / "no-cmds.json", state_dir, state_dir / "no-checkout")
    assert facts.updates is not None
    return json.dumps([dataclasses.asdict(record) for record in facts.updates])


def assert_refused_unrequested(device: tuple, internal: HostileServer, counters: Counters, *fragments: str) -> None:
    models, _, history = device
    state_dir = models.parent / "state"
    [record] = history.records()
    assert (record.kind, record.result) == ("model", "rejected")
    for fragment in fragments:
        assert fragment in record.reason
    assert internal.paths == []  # refused before any request
    assert "secret" not in heartbeat_view(state_dir)
    assert "is refused" in heartbeat_view(state_dir)  # the refusal itself is reported
    assert counters.get("models.rejected") == 1
    assert model_dirs(models) == []
    assert ModelStore(models).candidate() is None


def internal_url(internal: HostileServer) -> str:
    return f"{internal.url}/containers/json"


def userinfo_trick(publisher: HostileServer, internal: HostileServer) -> str:
    """Reads as the publisher's URL to a naive prefix check; requests connects to `internal`."""
    return f"{publisher.url}@{internal.url.removeprefix('http://')}/containers/json"


METADATA_HINT = "link-local address (the cloud metadata service lives there), never allowed"
OTHER_ORIGINS: list[tuple[str, Callable[[HostileServer, HostileServer], str], str]] = [
    ("another-origin", lambda p, i: internal_url(i), "or add http://127.0.0.1:"),
    ("userinfo-trick", userinfo_trick, "or add http://127.0.0.1:"),
    ("docker-api", lambda p, i: "http://docker-api:2375/containers/json",
     "docker-api is one of this project's internal services"),
    ("docker-api-trailing-dot", lambda p, i: "http://DOCKER-API.:2375/v1.43/containers/json",
     "this project's internal services"),
    ("metadata", lambda p, i: "http://169.254.169.254/latest/meta-data/iam/security-credentials/", METADATA_HINT),
    ("metadata-as-a-number", lambda p, i: "http://2852039166/latest/meta-data/", METADATA_HINT),
    ("metadata-ipv4-mapped-ipv6", lambda p, i: "http://[::ffff:a9fe:a9fe]/latest/meta-data/", METADATA_HINT),
]


@pytest.mark.parametrize(("make_url", "hint"),
                         [pytest.param(make, hint, id=name) for name, make, hint in OTHER_ORIGINS])
def test_model_url_outside_the_allowed_origins_is_refused_and_never_requested(publisher, internal, device, make_url,
                                                                              hint):
    url = make_url(publisher, internal)
    publish(publisher, url)
    counters = Counters()
    updater(publisher, device, counters).step()
    updater(publisher, device, counters).step()  # polled again (a restart): the rejection is remembered
    assert_refused_unrequested(device, internal, counters, f"model file {url} is refused",
                               f"the manifest's origin {publisher.url}", "SMARTCAM_MODEL_DOWNLOAD_ORIGINS", hint)
    assert publisher.paths == [MANIFEST, f"{MANIFEST}.sig"] * 2


@pytest.mark.parametrize("target", ["internal", "http://docker-api:2375/containers/json",
                                    "http://169.254.169.254/latest/meta-data/"])
def test_redirect_to_another_origin_is_refused_at_that_hop(publisher, internal, device, target):
    location = internal_url(internal) if target == "internal" else target
    publish(publisher, "model.tflite")
    redirect(publisher, "/devrelease/model.tflite", "/mirror/model.tflite", status=301)  # same origin: followed
    redirect(publisher, "/mirror/model.tflite", location)
    counters = Counters()
    updater(publisher, device, counters).step()
    assert_refused_unrequested(device, internal, counters,
                               f"model file {publisher.url}/mirror/model.tflite redirects to {location}, "
                               "which is refused", "SMARTCAM_MODEL_DOWNLOAD_ORIGINS")
    assert publisher.paths == [MANIFEST, f"{MANIFEST}.sig", "/devrelease/model.tflite", "/mirror/model.tflite"]


@pytest.mark.parametrize("via_redirect", [False, True], ids=["absolute-url", "redirect"])
def test_an_allow_listed_origin_serves_the_model(publisher, internal, device, via_redirect):
    models, _, history = device
    if via_redirect:
        publish(publisher, "model.tflite")
        redirect(publisher, "/devrelease/model.tflite", f"{internal.url}/model.tflite", status=307)
    else:
        publish(publisher, f"{internal.url}/model.tflite")
    counters = Counters()
    updater(publisher, device, counters, model_download_origins=f"https://cdn.example.com, {internal.url}").step()
    assert ModelStore(models).candidate().sha256 == good_manifest()["sha256"]
    assert internal.paths == ["/model.tflite"]
    assert history.records() == []  # offered to infer; its verdict is recorded later
    assert counters.get("models.offered") == 1


def test_manifest_redirected_to_another_origin_is_not_fetched(publisher, internal, device):
    redirect(publisher, MANIFEST, f"{internal.url}/containers/json")
    counters = Counters()
    updater(publisher, device, counters).step()
    assert counters.get("models.problems.manifest_origin") == 1
    assert internal.paths == []
    assert device[2].records() == []  # nothing was attempted; the outage is counted and logged


def test_a_redirect_loop_ends_as_a_failed_attempt(publisher, internal, device):
    publish(publisher, "model.tflite")
    redirect(publisher, "/devrelease/model.tflite", "/devrelease/model.tflite")
    counters = Counters()
    updater(publisher, device, counters).step()
    [record] = device[2].records()
    assert record.result == "failed"
    assert f"redirects more than {MAX_REDIRECTS} times" in record.reason
    assert publisher.paths.count("/devrelease/model.tflite") == MAX_REDIRECTS + 1
