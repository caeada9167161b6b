"""Every Docker API call the updater makes (docker_calls.py) is one the docker-api allow-list
(services/docker_api/haproxy.cfg) lets through, and the allow-list lets through nothing else.

The calls are recorded as they go over the wire: DockerCalls, with the real docker SDK, talks to a
local HTTP server that answers like the daemon and records each request's method and path.
"""

import ast
import inspect
import json
import re
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smartcam.updater.clone import ContainerSpec
from smartcam.updater.docker_calls import DockerCalls

ROOT = Path(__file__).resolve().parents[3]
HAPROXY_CFG = ROOT / "services/docker_api/haproxy.cfg"
UPDATER = ROOT / "services/updater/smartcam/updater"
CONTAINER_ID = "4f1c" * 16
IMAGE_ID = "sha256:" + "ab" * 32
DIGEST = "sha256:" + "cd" * 32
REPOSITORY = "127.0.0.1:5000/smartcam/infer"


# --- a recording stand-in for the daemon ----------------------------------------------------------

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes


def _answer(method: str, path: str) -> tuple[int, bytes, str]:
    """A plausible daemon answer: enough for the SDK to parse it."""
    routes: list[tuple[str, str, object]] = [
        ("GET", r"/containers/json$", [{"Id": CONTAINER_ID, "ImageID": IMAGE_ID, "Names": ["/smartcam-infer-1"]}]),
        ("GET", r"/containers/[^/]+/json$", {"Id": CONTAINER_ID, "Name": "/smartcam-infer-1", "Config": {"Tty": False},
                                             "State": {"Running": True}, "Image": IMAGE_ID}),
        ("GET", r"/containers/[^/]+/logs$", None),
        ("POST", r"/containers/create$", {"Id": CONTAINER_ID, "Warnings": []}),
        ("POST", r"/containers/[^/]+/wait$", {"StatusCode": 0}),
        ("POST", r"/images/create$", None),
        ("GET", r"/images/json$", [{"Id": IMAGE_ID}]),
        ("GET", r"/distribution/.+/json$", {"Descriptor": {"digest": DIGEST}}),
        ("GET", r"/images/.+/json$", {"Id": IMAGE_ID, "RepoDigests": [f"{REPOSITORY}@{DIGEST}"]}),
        ("DELETE", r"/images/[^/]+$", [{"Untagged": REPOSITORY}]),
    ]
    for route_method, pattern, body in routes:
        if method == route_method and re.search(pattern, path):
            if path.endswith("/logs"):  # a non-tty container's log is multiplexed: 8-byte frame headers
                text = b"self-test ok\n"
                return 200, struct.pack(">BxxxL", 1, len(text)) + text, "application/vnd.docker.raw-stream"
            if path.endswith("/images/create"):  # one progress line (without chunking, the SDK reads one)
                return 200, b'{"status": "Downloaded newer image"}', "application/json"
            return 200, json.dumps(body).encode(), "application/json"
    return 204, b"", "text/plain"


class Recorder(BaseHTTPRequestHandler):
    requests: list[Request]

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.partition("?")[0]
        self.requests.append(Request(self.command, path, body))
        status, payload, kind = _answer(self.command, path)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def recorded() -> list[Request]:
    """The requests of every DockerCalls method, called as the updater calls it."""
    requests: list[Request] = []
    handler = type("Handler", (Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    calls = DockerCalls.connect(f"tcp://127.0.0.1:{server.server_address[1]}", timeout_s=10)
    spec = ContainerSpec({"Image": f"{REPOSITORY}:master", "HostConfig": {"NetworkMode": "smartcam_pipeline"}},
                         {"smartcam_egress": {"Aliases": ["infer"]}})
    exercised = {
        "list_containers": lambda: calls.list_containers("com.docker.compose.project=smartcam"),
        "inspect_container": lambda: calls.inspect_container("smartcam-infer-1.previous"),
        "create_container": lambda: calls.create_container("smartcam-infer-1", spec),
        "start": lambda: calls.start(CONTAINER_ID),
        "stop": lambda: calls.stop(CONTAINER_ID, 10),
        "rename": lambda: calls.rename(CONTAINER_ID, "smartcam-infer-1.previous"),
        "remove_container": lambda: calls.remove_container(CONTAINER_ID),
        "wait": lambda: calls.wait(CONTAINER_ID, 5),
        "logs": lambda: calls.logs(CONTAINER_ID),
        "inspect_image": lambda: calls.inspect_image(IMAGE_ID),
        "list_images": lambda: calls.list_images(REPOSITORY),
        "registry_digest": lambda: calls.registry_digest(f"{REPOSITORY}:master"),
        "pull": lambda: calls.pull(REPOSITORY, DIGEST, lambda: None),
        "tag": lambda: calls.tag(IMAGE_ID, REPOSITORY, "master"),
        "remove_image": lambda: calls.remove_image(IMAGE_ID, force=True),
    }
    public = {name for name, _ in inspect.getmembers(DockerCalls, inspect.isfunction) if not name.startswith("_")}
    assert public == set(exercised), "exercise each DockerCalls method here, as the updater calls it"
    try:
        for call in exercised.values():
            call()
    finally:
        server.shutdown()
    return requests


# --- the allow-list, as haproxy reads it ----------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """`http-request allow if <method acl> <path acl>`."""

    methods: tuple[str, ...]
    paths: tuple[str, ...]


def allow_rules() -> list[Rule]:
    acls: dict[str, tuple[str, tuple[str, ...]]] = {}
    rules: list[Rule] = []
    for line in HAPROXY_CFG.read_text().splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["acl"]:
            name, criterion, *values = words[1:]
            acls[name] = (criterion, tuple(values))
        elif words[:2] == ["http-request", "allow"]:
            assert words[2:3] == ["if"], f"unexpected allow rule (update this test): {line}"
            assert len(words) == 5, f"unexpected allow rule (update this test): {line}"
            (method_kind, methods), (path_kind, paths) = acls[words[3]], acls[words[4]]
            assert (method_kind, path_kind) == ("method", "path_reg"), f"unexpected allow rule: {line}"
            # One path shape per pattern, so that the test below sees whether each one is used.
            assert not [p for p in paths if "|" in p], f"split alternatives into separate patterns: {line}"
            rules.append(Rule(methods, paths))
    assert rules, f"no allow rules found in {HAPROXY_CFG}"
    return rules


def allowed_by(rule: Rule, request: Request) -> list[str]:
    """The rule's path patterns that let `request` through (haproxy: unanchored regex on the raw path)."""
    return [p for p in rule.paths if request.method in rule.methods and re.search(p, request.path)]


def test_every_call_is_let_through(recorded):
    rules = allow_rules()
    refused = [(r.method, r.path) for r in recorded if not any(allowed_by(rule, r) for rule in rules)]
    assert not refused, f"calls docker-api would refuse with 403: {refused}"


def test_the_allow_list_lets_through_nothing_else(recorded):
    """Each (method, path pattern) the allow-list has is used by some call: nothing is allowed just in case."""
    unused = [(method, pattern) for rule in allow_rules() for method in rule.methods for pattern in rule.paths
              if not any(pattern in allowed_by(Rule((method,), rule.paths), r) for r in recorded)]
    assert not unused, f"allowed but never called (remove from {HAPROXY_CFG.name}): {unused}"


def test_the_recorder_sees_every_kind_of_call(recorded):
    """The wire record is complete: one method per DockerCalls call, the pinned API version on each."""
    assert {r.method for r in recorded} == {"GET", "POST", "DELETE"}
    assert all(r.path.startswith("/v1.41/") for r in recorded)
    assert any(r.path == f"/v1.41/distribution/{REPOSITORY}:master/json" for r in recorded)
    assert any(r.path == "/v1.41/networks/smartcam_egress/connect" for r in recorded)


def test_created_containers_pass_the_escalation_filter(recorded):
    """The allow-list also refuses a create whose body escalates; the updater's own creates must not."""
    line = next(line for line in HAPROXY_CFG.read_text().splitlines() if "acl escalates" in line)
    patterns = re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("-i", 1)[1])
    creates = [r.body.decode() for r in recorded if r.path.endswith("/containers/create")]
    assert creates
    for body in creates:
        assert not [p for p in patterns if re.search(p.replace('\\"', '"'), body, re.IGNORECASE)], body
    escalating = json.dumps({"HostConfig": {"Privileged": True}})
    assert any(re.search(p.replace('\\"', '"'), escalating, re.IGNORECASE) for p in patterns)


# --- one module, public SDK API -------------------------------------------------------------------

def test_only_docker_calls_imports_the_docker_sdk():
    importers = []
    for path in UPDATER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "docker" or n.startswith("docker.") for n in names) and path.name != "docker_calls.py":
                importers.append(str(path.relative_to(ROOT)))
    assert not importers


def test_docker_calls_uses_public_sdk_api_only():
    tree = ast.parse((UPDATER / "docker_calls.py").read_text())
    private = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and isinstance(node.value, ast.Attribute) and node.value.attr == "_api" and node.attr.startswith("_")]
    assert not private
