"""Every request the updater sends (docker_calls.py) is one docker-api offers (its routes.py), with a body
that docker-api's strict parser accepts; and every route docker-api offers is used by the updater.

The requests are recorded as they go over the wire: DockerCalls talks to a local HTTP server that answers
like docker-api and records each request's method, path and body.
"""

import ast
import inspect
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smartcam.docker_api import bodies
from smartcam.docker_api.routes import ROUTES, Route, match
from smartcam.updater.docker_calls import DockerApiError, DockerCalls

ROOT = Path(__file__).resolve().parents[3]
UPDATER = ROOT / "services/updater/smartcam/updater"
CONTAINER_ID = "4f1c" * 16
IMAGE_ID = "sha256:" + "ab" * 32
DIGEST = "sha256:" + "cd" * 32
REPOSITORY = "127.0.0.1:5000/smartcam/infer"
CONTAINER = {"Id": CONTAINER_ID, "Name": "/smartcam-infer-1", "Image": IMAGE_ID, "State": {"Running": True},
             "Config": {"Image": f"{REPOSITORY}:master", "Labels": {}}}
IMAGE = {"Id": IMAGE_ID, "RepoTags": [], "RepoDigests": [f"{REPOSITORY}@{DIGEST}"], "Size": 1, "Config": {}}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes


def _answer(route: Route) -> bytes:
    """A plausible docker-api answer for the route."""
    answers = {"/containers": [CONTAINER], "/containers/{ref}": CONTAINER, "/containers/{ref}/replace": {
        "Id": CONTAINER_ID}, "/self-test": {"exit_code": 0, "output": "self-test ok"}, "/images/{image}": IMAGE,
        "/images/registry-digest": {"digest": DIGEST}, "/images/prune": {"removed": 1}}
    if route.template == "/images/pull":
        return b'{"status": "Downloading"}\n{"image": ' + json.dumps(IMAGE).encode() + b"}\n"
    if route.template == "/images/{image}" and route.method == "DELETE":
        return b'{"removed": []}'
    return json.dumps(answers.get(route.template, {"ok": True})).encode()


class Recorder(BaseHTTPRequestHandler):
    requests: list[Request]

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.requests.append(Request(self.command, self.path, body))
        route, _ = match(self.command, self.path)
        status, payload = (200, _answer(route)) if route else (404, b'{"error": "no such route"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
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
    calls = DockerCalls.connect(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=10)
    exercised = {
        "list_containers": calls.list_containers,
        "inspect_container": lambda: calls.inspect_container("smartcam-infer-1.previous"),
        "replace": lambda: calls.replace(CONTAINER_ID, IMAGE_ID),
        "start": lambda: calls.start(CONTAINER_ID),
        "stop": lambda: calls.stop(CONTAINER_ID, 10),
        "rename": lambda: calls.rename(CONTAINER_ID, "smartcam-infer-1.previous"),
        "remove_container": lambda: calls.remove_container(CONTAINER_ID),
        "self_test": lambda: calls.self_test(IMAGE_ID),
        "inspect_image": lambda: calls.inspect_image(IMAGE_ID),
        "registry_digest": lambda: calls.registry_digest(f"{REPOSITORY}:master"),
        "pull": lambda: calls.pull(REPOSITORY, DIGEST, lambda: None),
        "tag": lambda: calls.tag(IMAGE_ID, REPOSITORY, "master"),
        "discard_image": lambda: calls.discard_image(IMAGE_ID),
        "prune_images": lambda: calls.prune_images(REPOSITORY, {IMAGE_ID}),
    }
    public = {name for name, _ in inspect.getmembers(DockerCalls, inspect.isfunction) if not name.startswith("_")}
    assert public - {"connect"} == set(exercised), "exercise each DockerCalls method here, as the updater calls it"
    try:
        for call in exercised.values():
            call()
    finally:
        server.shutdown()
    return requests


def test_every_request_is_a_route_with_a_body_docker_api_accepts(recorded):
    for request in recorded:
        route, _ = match(request.method, request.path)
        assert route is not None, f"docker-api has no route for {request.method} {request.path}"
        if route.body is None:
            assert request.body == b"", (request.method, request.path)
        else:
            bodies.parse(request.body, route.body)  # raises BodyError with the reason


def test_every_route_is_used_by_the_updater(recorded):
    """Nothing is offered just in case: each route of docker-api is one the updater calls."""
    used = {(route.method, route.template) for route in ROUTES for r in recorded
            if route.method == r.method and route.pattern.fullmatch(r.path)}
    unused = {(route.method, route.template) for route in ROUTES} - used
    assert not unused, f"offered but never called (remove from routes.py): {sorted(unused)}"


def test_a_refusal_reaches_the_updater_with_docker_apis_message():
    class Refuser(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = b'{"error": "no container \'x\' in project smartcam"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DockerApiError, match=r"no container 'x' in project smartcam \(HTTP 404\)"):
            DockerCalls.connect(f"http://127.0.0.1:{server.server_address[1]}").inspect_container("x")
    finally:
        server.shutdown()


def test_the_updater_does_not_import_the_docker_sdk():
    """Only docker-api holds the socket and the SDK; the updater speaks plain HTTP to it."""
    importers = []
    for path in UPDATER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "docker" or n.startswith("docker.") for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert not importers
