"""The HTTP side: one request, parsed strictly, answered with JSON; every refusal logged and counted.

HTTP/1.0, one request per connection: no keep-alive, no pipelining, no chunked bodies (a body needs
Content-Length, at most bodies.MAX_BODY_BYTES). A pull streams its progress as JSON lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from docker.errors import APIError, DockerException, NotFound

from smartcam.common.counters import Counters
from smartcam.docker_api import bodies
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.routes import match
from smartcam.docker_api.scope import RefusedError

DRAIN_LIMIT_BYTES = 1 << 20  # an oversized body is read this far, so the client gets the 413 and not a reset


DISCARD_TIMEOUT_S = 0.5
DISCARD_MAX_BYTES = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "smartcam-docker-api"
    sys_version = ""
    timeout = 30  # a client that stops sending mid-request is dropped
    operations: Operations
    logger: logging.Logger
    counters: Counters

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            result = self._dispatch()
        except RefusedError as refusal:
            self._refuse(refusal.status, refusal.message)
            return
        except NotFound as error:
            self._refuse(404, f"docker: {error.explanation}")
            return
        except APIError as error:
            status = error.status_code if error.status_code and 400 <= error.status_code < 500 else 502
            self._refuse(status, f"docker: {error.explanation or error}")
            return
        except (DockerException, requests.RequestException) as error:
            self._refuse(502, f"the Docker daemon did not answer ({error})")
            return
        self.counters.inc("requests.ok")
        if isinstance(result, Iterator):
            self._stream(result)
        else:
            self._send(200, result)

    def _dispatch(self) -> Any:
        # The path as sent: http.server turns a leading "//" into "/"; here nothing is normalised.
        words = self.requestline.split()
        self.path = words[1] if len(words) == 3 else self.path
        route, found = match(self.command, self.path)
        if route is None:
            if not found:
                raise RefusedError(404, f"no such route {self.path[:200]!r}: docker-api offers only the operations an "
                                   "update needs (services/docker_api/smartcam/docker_api/routes.py)")
            raise RefusedError(405, f"{self.command} is not allowed on {self.path}; use {' or '.join(found)}")
        assert isinstance(found, dict)
        body = self._body(route.body)
        result = route.call(self.operations, found, body)
        if self.command != "GET":
            self.logger.info("%s %s %s", self.command, self.path, _summary(body))
        return result

    def _body(self, model: type[bodies.Strict] | None) -> bodies.Strict | None:
        if self.headers.get_all("Transfer-Encoding"):
            raise RefusedError(411, "Transfer-Encoding (chunked bodies) is refused: send the body with Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1:
            raise RefusedError(400, "more than one Content-Length header")
        text = lengths[0].strip() if lengths else "0"
        if not (text.isascii() and text.isdigit()):
            raise RefusedError(400, f"Content-Length {text[:20]!r} is not a number")
        length = int(text)
        if length > bodies.MAX_BODY_BYTES:
            self.rfile.read(min(length, DRAIN_LIMIT_BYTES))
            raise RefusedError(413, f"body of {length} bytes refused: at most {bodies.MAX_BODY_BYTES}")
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            raise RefusedError(400, f"body ended after {len(raw)} of {length} bytes")
        if model is None:
            if raw:
                raise RefusedError(400, f"{self.command} {self.path} takes no body")
            return None
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise RefusedError(415, "the body must be sent as Content-Type: application/json")
        try:
            return bodies.parse(raw, model)
        except bodies.BodyError as error:
            raise RefusedError(400, f"{model.__name__.lower()} request refused: {error}") from None

    def _refuse(self, status: int, message: str) -> None:
        self.counters.inc("requests.refused")
        self.logger.warning("refused %s %s from %s: %d %s", self.command, self.path[:200], self.client_address[0],
                            status, message)
        if status in (411, 413):
            self._discard_unread_body()
        self._send(status, {"error": message})

    def _discard_unread_body(self) -> None:
        """Read (bounded in bytes and time) what the client is still sending of a refused body, so the answer is
        not lost to the reset a close with unread data would cause."""
        self.connection.settimeout(DISCARD_TIMEOUT_S)
        discarded = 0
        try:
            while discarded < DISCARD_MAX_BYTES and (chunk := self.rfile.read1(65536)):
                discarded += len(chunk)
        except OSError:  # the timeout: the client sent what it had
            pass
        self.close_connection = True

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        if status == 405:
            self.send_header("Allow", "GET, POST, DELETE")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, lines: Iterator[dict[str, Any]]) -> None:
        """JSON lines until the connection closes; a failure midway is the last line, {"error": ...}."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        try:
            for line in lines:
                self.wfile.write(json.dumps(line).encode() + b"\n")
                self.wfile.flush()
        except RefusedError as refusal:
            self._log_midway(refusal.message)
        except (DockerException, requests.RequestException) as error:
            self._log_midway(f"docker: {error}")

    def _log_midway(self, message: str) -> None:
        self.counters.inc("requests.failed")
        self.logger.warning("%s %s failed: %s", self.command, self.path, message)
        self.wfile.write(json.dumps({"error": message}).encode() + b"\n")

    def log_message(self, format: str, *args: Any) -> None:
        self.logger.debug(format, *args)


def _summary(body: bodies.Strict | None) -> str:
    return json.dumps(body.model_dump()) if body is not None else ""


def serve(port: int, operations: Operations, logger: logging.Logger, counters: Counters,
          host: str = "") -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"operations": operations, "logger": logger, "counters": counters})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
