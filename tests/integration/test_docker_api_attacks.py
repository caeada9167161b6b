"""docker-api under attack: from a container on the `docker-api` network (what an attacker holding the
updater has), every attempt of issue 10 and its variants is refused, with its own message.

A real docker-api container on the real socket, a decoy container of another compose project that must
stay untouched, and a host folder that every bind-mount attempt targets and that must stay empty.
Each attempt is one parametrized test, so `pytest -v` names it.
"""

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.harness import REPO, TEST_CHANNEL, Stack
from tests.integration.registry import docker

REGISTRY = "registry.smartcam.invalid:5000/"  # the device's registry (never contacted by these attempts)
ATTACKER = REPO / "tests/integration/docker_api_attack.py"
SHA = "sha256:" + "0" * 64  # a well-formed image id that exists nowhere


@dataclass(frozen=True)
class Attempt:
    id: str
    method: str
    path: str
    expect: int  # the refusal's status
    body: Any = None  # JSON-encoded as sent
    raw: str | None = None  # sent byte for byte instead of `body`
    headers: dict[str, str] = field(default_factory=dict)
    extra_headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False


def _replace(extra: str) -> str:
    """A replace body with `extra` spliced in after the image, as raw JSON text."""
    return '{"image": "{debian_id}"' + extra + "}"


HOST_BIND = {"Binds": ["{host_dir}:/host", "/etc:/host-etc:ro"]}
ATTEMPTS = [
    # The raw Docker API does not exist here, with or without a version prefix.
    # (/containers/create has the shape of a container named "create": it takes only GET and DELETE.)
    Attempt("raw-create-bind-host-paths", "POST", "/containers/create", 405,
            {"Image": "debian:bookworm-slim", "Cmd": ["touch", "/host/pwned"], "User": "0",
             "HostConfig": HOST_BIND}),
    Attempt("raw-create-versioned", "POST", "/v1.41/containers/create", 404,
            {"Image": "debian:bookworm-slim", "HostConfig": {"Privileged": True, **HOST_BIND}}),
    Attempt("raw-create-query-name", "POST", "/containers/create?name=x", 404, {"Image": "debian:bookworm-slim"}),
    Attempt("raw-exec-decoy", "POST", "/containers/{decoy_id}/exec", 404, {"Cmd": ["id"]}),
    Attempt("raw-exec-versioned", "POST", "/v1.41/containers/{own_name}/exec", 404, {"Cmd": ["id"]}),
    Attempt("raw-list-all-containers", "GET", "/v1.41/containers/json?all=1", 404),
    Attempt("raw-inspect-decoy-env", "GET", "/containers/{decoy_id}/json", 404),
    Attempt("raw-decoy-logs", "GET", "/containers/{decoy_id}/logs?stdout=1&stderr=1", 404),
    Attempt("raw-distribution-loopback", "GET", "/v1.41/distribution/127.0.0.1:5000/smartcam/capture:master/json", 404),
    Attempt("raw-images-create-loopback", "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/x&tag=latest", 404),
    Attempt("raw-build", "POST", "/v1.41/build", 404),
    Attempt("raw-volumes", "GET", "/volumes", 404),
    Attempt("raw-ping", "GET", "/_ping", 404),
    # replace: the create body is built by docker-api; any key beyond `image` is refused, however it is spelt.
    Attempt("replace-bind-host-paths", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}", "HostConfig": HOST_BIND}),
    Attempt("replace-privileged", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}", "Privileged": True}),
    Attempt("replace-privileged-json-escape", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "Privil\\u0065ged": true')),
    Attempt("replace-privileged-nested-escape", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "HostConfig": {"\\u0050rivileged" : true}')),
    Attempt("replace-key-case-Image", "POST", "/containers/{own_name}/replace", 400, {"Image": "{debian_id}"}),
    Attempt("replace-key-case-IMAGE-plus-image", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "IMAGE": "{debian_id}"')),
    Attempt("replace-duplicate-image-key", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "image": "' + SHA + '"')),
    Attempt("replace-duplicate-via-escape", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "\\u0069mage": "' + SHA + '"')),
    Attempt("replace-network-host", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}", "HostConfig": {"NetworkMode": "host"}}),
    Attempt("replace-network-host-space-before-value", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "HostConfig": {"NetworkMode": \t "host"}')),
    Attempt("replace-pid-host", "POST", "/containers/{own_name}/replace", 400,
            raw=_replace(', "HostConfig": {"PidMode" :"host"}')),
    Attempt("replace-capadd-sys-admin-seccomp-unconfined", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}", "HostConfig": {"CapAdd": ["SYS_ADMIN"], "SecurityOpt": ["seccomp=unconfined"]}}),
    Attempt("replace-volumes-from-docker-api", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}", "HostConfig": {"VolumesFrom": ["{own_name}"]}}),
    Attempt("replace-image-by-name-not-id", "POST", "/containers/{own_name}/replace", 400,
            {"image": "127.0.0.1:5000/evil:latest"}),
    Attempt("replace-image-nan", "POST", "/containers/{own_name}/replace", 400, raw='{"image": NaN}'),
    Attempt("replace-body-is-an-array", "POST", "/containers/{own_name}/replace", 400, raw='["{debian_id}"]'),
    Attempt("replace-padded-20kB", "POST", "/containers/{own_name}/replace", 413,
            raw=_replace(', "pad": "' + "x" * 20000 + '", "HostConfig": {"Privileged": true}')),
    Attempt("replace-whitespace-padded-20kB", "POST", "/containers/{own_name}/replace", 413,
            raw='{"image": "{debian_id}",' + " " * 20000 + '"Privileged": true}'),
    Attempt("replace-chunked-body", "POST", "/containers/{own_name}/replace", 411,
            {"image": "{debian_id}", "HostConfig": {"Privileged": True}}, chunked=True),
    Attempt("replace-chunked-with-content-length", "POST", "/containers/{own_name}/replace", 411,
            {"image": "{debian_id}"}, headers={"Content-Length": "10"}, chunked=True),
    Attempt("replace-two-content-lengths", "POST", "/containers/{own_name}/replace", 400,
            {"image": "{debian_id}"}, extra_headers=(("Content-Length", "2"),)),
    Attempt("replace-as-text-plain", "POST", "/containers/{own_name}/replace", 415,
            {"image": "{debian_id}"}, headers={"Content-Type": "text/plain"}),
    Attempt("replace-docker-api-itself", "POST", "/containers/{own_name}/replace", 403, {"image": "{debian_id}"}),
    Attempt("replace-decoy", "POST", "/containers/{decoy_id}/replace", 404, {"image": "{debian_id}"}),
    # Containers outside the project do not exist here, by name, id or id prefix.
    Attempt("decoy-inspect-by-name", "GET", "/containers/{decoy_name}", 404),
    Attempt("decoy-inspect-by-id", "GET", "/containers/{decoy_id}", 404),
    Attempt("decoy-inspect-by-short-id", "GET", "/containers/{decoy_short}", 404),
    Attempt("decoy-stop", "POST", "/containers/{decoy_name}/stop", 404, {"timeout_s": 0}),
    Attempt("decoy-start", "POST", "/containers/{decoy_id}/start", 404),
    Attempt("decoy-rename", "POST", "/containers/{decoy_id}/rename", 404, {"name": "{decoy_name}.previous"}),
    Attempt("decoy-remove", "DELETE", "/containers/{decoy_id}", 404),
    Attempt("docker-api-stop-itself", "POST", "/containers/{own_name}/stop", 403, {"timeout_s": 0}),
    Attempt("docker-api-remove-itself", "DELETE", "/containers/{own_name}", 403),
    # URL encodings and traversal: paths are matched before any decoding.
    Attempt("urlencoded-route", "GET", "/%63ontainers", 404),
    Attempt("urlencoded-slash-to-create", "POST", "/containers/x%2F..%2Fcreate/replace", 404, {"image": SHA}),
    Attempt("urlencoded-decoy-name", "DELETE", "/containers/%{decoy_name_hex}", 404),
    Attempt("dot-dot-to-raw-api", "GET", "/containers/../v1.41/containers/json", 404),
    Attempt("double-slash", "GET", "//containers", 404),
    Attempt("trailing-slash", "GET", "/containers/", 404),
    Attempt("absolute-uri", "GET", "http://docker-api:2375/containers/{decoy_id}", 404),
    # Wrong methods.
    Attempt("put-on-containers", "PUT", "/containers", 405),
    Attempt("delete-on-containers", "DELETE", "/containers", 405),
    Attempt("get-on-pull", "GET", "/images/pull", 405),
    # Images: only <registry>smartcam/<service>, by digest; no other host, no loopback, no traversal.
    Attempt("pull-loopback-registry", "POST", "/images/pull", 403,
            {"repository": "127.0.0.1:5000/smartcam/capture", "digest": SHA}),
    Attempt("pull-localhost-registry", "POST", "/images/pull", 403,
            {"repository": "localhost:2375/smartcam/capture", "digest": SHA}),
    Attempt("pull-other-registry", "POST", "/images/pull", 403, {"repository": "docker.io/library/alpine",
                                                                 "digest": SHA}),
    Attempt("pull-docker-hub-short-name", "POST", "/images/pull", 403, {"repository": "alpine", "digest": SHA}),
    Attempt("pull-path-traversal", "POST", "/images/pull", 403,
            {"repository": "{registry}smartcam/../../evil/x", "digest": SHA}),
    Attempt("pull-registry-as-subdomain", "POST", "/images/pull", 403,
            {"repository": "{registry_host}.evil.example/smartcam/capture", "digest": SHA}),
    Attempt("pull-userinfo-to-loopback", "POST", "/images/pull", 400,
            {"repository": "{registry_host}@127.0.0.1:5000/smartcam/capture", "digest": SHA}),
    Attempt("pull-urlencoded-traversal", "POST", "/images/pull", 400,
            {"repository": "{registry}smartcam/%2e%2e/x", "digest": SHA}),
    Attempt("pull-by-tag-not-digest", "POST", "/images/pull", 400,
            {"repository": "{registry}smartcam/capture", "digest": "latest"}),
    Attempt("registry-digest-loopback", "POST", "/images/registry-digest", 403,
            {"repository": "127.0.0.1:5000/smartcam/capture", "tag": "master"}),
    Attempt("tag-into-another-repository", "POST", "/images/{debian_id}/tag", 403,
            {"repository": "127.0.0.1:5000/x", "tag": "latest"}),
    Attempt("inspect-foreign-image", "GET", "/images/{debian_id}", 404),
    Attempt("discard-foreign-image", "DELETE", "/images/{debian_id}", 404),
    Attempt("prune-foreign-repository", "POST", "/images/prune", 403, {"repository": "debian", "keep": []}),
    Attempt("self-test-foreign-image", "POST", "/self-test", 404, {"image": "{debian_id}"}),
]


def _fill(value: Any, context: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in context.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {_fill(k, context): _fill(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, context) for v in value]
    return value


def _inspect(container: str) -> dict:
    return json.loads(docker("inspect", container))[0]


@pytest.fixture(scope="module")
def attacked(images, tmp_path_factory):
    """Runs every attempt once; yields (results by id, context, decoy before, stack)."""
    tag = f"{REGISTRY}smartcam/docker-api:{TEST_CHANNEL}"
    docker("tag", f"smartcam/docker-api:{TEST_CHANNEL}", tag)
    host_dir = tmp_path_factory.mktemp("host-dir")
    host_dir.chmod(0o777)  # a container running as anyone could write here, if it were created
    stack = Stack(tmp_path_factory.mktemp("stack"), {"SMARTCAM_REGISTRY": REGISTRY})
    decoy_name = f"smartcam-decoy-{uuid.uuid4().hex[:8]}"
    try:
        docker("run", "-d", "--name", decoy_name, "--label", f"com.docker.compose.project={stack.project}-other",
               "--label", "com.docker.compose.service=capture", "-e", "SECRET=decoy-secret",
               "debian:bookworm-slim", "sleep", "600")
        stack.up("docker-api")
        stack.wait_for(lambda: "docker-api on port" in stack.logs("docker-api"), 60, "docker-api listening")
        decoy = _inspect(decoy_name)
        context = {"decoy_id": decoy["Id"], "decoy_short": decoy["Id"][:12], "decoy_name": decoy_name,
                   "decoy_name_hex": "%".join(f"{ord(c):02x}" for c in decoy_name),
                   "own_name": f"{stack.project}-docker-api-1", "registry": REGISTRY,
                   "registry_host": REGISTRY.rstrip("/"), "host_dir": str(host_dir),
                   "debian_id": docker("image", "inspect", "--format", "{{.Id}}", "debian:bookworm-slim").strip()}
        attempts = [_fill({k: v for k, v in vars(a).items() if k != "expect"}, context) for a in ATTEMPTS]
        attempts.append({"id": "legit-list-containers", "method": "GET", "path": "/containers"})
        result = subprocess.run(
            ["docker", "run", "--rm", "-i", "--network", f"{stack.project}_docker-api", "--read-only",
             "--cap-drop", "ALL", "-v", f"{ATTACKER}:/attack.py:ro", f"smartcam/updater:{TEST_CHANNEL}",
             "python", "/attack.py"], input=json.dumps(attempts), capture_output=True, text=True, timeout=300,
            check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        yield json.loads(result.stdout), context, decoy, host_dir, stack
    finally:
        stack.down()
        subprocess.run(["docker", "rm", "-f", decoy_name], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.id for a in ATTEMPTS])
def test_attempt_is_refused(attacked, attempt):
    results = attacked[0]
    status, answer = results[attempt.id]
    print(f"\nREFUSED {attempt.id}: {status} {answer}")
    assert status == attempt.expect, f"{attempt.id}: {status} {answer}"
    assert json.loads(answer)["error"], answer  # a specific message, not an empty refusal


def test_nothing_was_touched_and_docker_api_still_serves(attacked):
    results, context, decoy_before, host_dir, stack = attacked
    decoy = _inspect(context["decoy_id"])
    assert decoy["State"]["Running"]
    assert decoy["Name"] == decoy_before["Name"]
    assert decoy["State"]["StartedAt"] == decoy_before["State"]["StartedAt"]  # not stopped, not restarted
    assert list(host_dir.iterdir()) == []  # nothing was created that could write on the host
    assert not docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}",
                      "--filter", "ancestor=debian:bookworm-slim").strip()
    status, answer = results["legit-list-containers"]
    assert status == 200
    assert [c["Name"] for c in json.loads(answer)] == [f"/{context['own_name']}"]  # the decoy is not shown
    logs = stack.logs("docker-api")
    assert logs.count("refused ") >= len(ATTEMPTS)  # every refusal is logged
    assert "decoy-secret" not in logs
