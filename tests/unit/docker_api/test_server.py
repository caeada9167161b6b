"""docker-api's request parsing, on the real HTTP server: refusals happen before Docker is asked, each with
a status and a message naming the problem; a refusal is logged and counted. (The full attack from a
container, against a real daemon: tests/integration/test_docker_api_attacks.py.)"""

import http.client
import json
import logging
import threading

import pytest

from smartcam.common.counters import Counters
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.server import serve

IMAGE = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """docker-api with a Docker socket that does not exist: whatever gets through parsing fails with 502."""
    socket = tmp_path_factory.mktemp("docker") / "docker.sock"
    operations = Operations.connect(f"unix://{socket}", "smartcam", "127.0.0.1:5000/", "", logging.getLogger("t"))
    counters = Counters()
    http_server = serve(0, operations, logging.getLogger("docker-api-test"), counters, host="127.0.0.1")
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    yield http_server.server_address[1], counters
    http_server.shutdown()


def request(port, method, path, body=b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v1.41/containers/create", b"{}", 404, "no such route"),
    ("GET", "/containers/%2e%2e", b"", 404, "no such route"),
    ("GET", "//containers", b"", 404, "no such route"),
    ("PUT", "/containers", b"", 405, "use GET"),
    ("POST", "/containers/x/replace", b'{"image": "' + IMAGE.encode() + b'", "Privileged": true}', 400,
     "Privileged: Extra inputs are not permitted"),
    ("POST", "/containers/x/replace", b'{"image": "' + IMAGE.encode() + b'", "\\u0069mage": "x"}', 400,
     "duplicate key(s) 'image'"),
    ("POST", "/containers/x/replace", b'{"Image": "' + IMAGE.encode() + b'"}', 400, "image: Field required"),
    ("POST", "/containers/x/replace", b'{"image": "' + IMAGE.encode() + b'", "p": "' + b"x" * 5000 + b'"}', 413,
     "at most 4096"),
    ("POST", "/containers/x/stop", b'{"timeout_s": "5"}', 400, "timeout_s: Input should be a valid integer"),
    ("POST", "/containers/x/start", b'{"a": 1}', 400, "takes no body"),
    ("POST", "/images/pull", b'{"repository": "127.0.0.1:5001/smartcam/capture", "digest": "' + IMAGE.encode()
     + b'"}', 403, "only 127.0.0.1:5000/smartcam/<service>"),
])
def test_refused_before_docker_is_asked(server, method, path, body, status, message):
    port, counters = server
    refused = counters.get("requests.refused")
    answer_status, answer = request(port, method, path, body)
    assert (answer_status, message in answer["error"]) == (status, True), answer
    assert counters.get("requests.refused") == refused + 1


def test_chunked_body_is_refused(server):
    port, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/self-test", body=iter([b'{"image": "', IMAGE.encode(), b'"}']),
                       headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 411
    assert "chunked" in json.loads(response.read())["error"]


def test_a_valid_request_reaches_docker(server):
    port, _ = server
    status, answer = request(port, "GET", "/containers")
    assert status == 502
    assert "the Docker daemon did not answer" in answer["error"]
