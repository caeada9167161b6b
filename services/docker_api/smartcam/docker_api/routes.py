"""The whole API: one route per operation an update needs. Nothing else answers (404), and a known
path answers only its method (405). tests/unit/updater/test_docker_calls.py checks that the updater
uses every route and that its client sends nothing else.

Paths are matched on the raw request path, before any decoding: `%`-escapes, queries, `..` and
doubled slashes match no route.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from smartcam.docker_api import bodies
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.scope import CONTAINER_REF, IMAGE_ID

Json = dict[str, Any]
Result = Json | list[Json] | Iterator[Json]
_PARAMETERS = {"ref": CONTAINER_REF, "image": IMAGE_ID}


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /containers/{ref}/stop
    body: type[bodies.Strict] | None
    call: Callable[[Operations, dict[str, str], Any], Result]

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.escape(self.template)
        for name, value in _PARAMETERS.items():
            regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>{value})")
        return re.compile(regex)


OK: Json = {"ok": True}


def _start(ops: Operations, p: dict[str, str], b: Any) -> Json:
    ops.start(p["ref"])
    return OK


def _stop(ops: Operations, p: dict[str, str], b: bodies.Stop) -> Json:
    ops.stop(p["ref"], b.timeout_s)
    return OK


def _rename(ops: Operations, p: dict[str, str], b: bodies.Rename) -> Json:
    ops.rename(p["ref"], b.name)
    return OK


def _remove(ops: Operations, p: dict[str, str], b: Any) -> Json:
    ops.remove(p["ref"])
    return OK


def _tag(ops: Operations, p: dict[str, str], b: bodies.TagImage) -> Json:
    ops.tag(p["image"], b.repository, b.tag)
    return OK


ROUTES: tuple[Route, ...] = (
    Route("GET", "/containers", None, lambda ops, p, b: ops.containers()),
    Route("GET", "/containers/{ref}", None, lambda ops, p, b: ops.container(p["ref"])),
    Route("POST", "/containers/{ref}/start", None, _start),
    Route("POST", "/containers/{ref}/stop", bodies.Stop, _stop),
    Route("POST", "/containers/{ref}/rename", bodies.Rename, _rename),
    Route("POST", "/containers/{ref}/replace", bodies.Replace,
          lambda ops, p, b: {"Id": ops.replace(p["ref"], b.image)}),
    Route("DELETE", "/containers/{ref}", None, _remove),
    Route("POST", "/self-test", bodies.SelfTest, lambda ops, p, b: dict(zip(
        ("exit_code", "output"), ops.self_test(b.image), strict=True))),
    Route("GET", "/images/{image}", None, lambda ops, p, b: ops.image(p["image"])),
    Route("POST", "/images/{image}/tag", bodies.TagImage, _tag),
    Route("DELETE", "/images/{image}", None, lambda ops, p, b: {"removed": ops.discard(p["image"])}),
    Route("POST", "/images/pull", bodies.Pull, lambda ops, p, b: ops.pull(b.repository, b.digest)),
    Route("POST", "/images/registry-digest", bodies.RegistryDigest,
          lambda ops, p, b: {"digest": ops.registry_digest(b.repository, b.tag)}),
    Route("POST", "/images/prune", bodies.Prune, lambda ops, p, b: {"removed": ops.prune(
        b.repository, set(b.keep), ops.note)}),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | tuple[None, list[str]]:
    """The route and its parameters; or None and the methods this path takes (empty: unknown path)."""
    methods = []
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict()
        methods.append(route.method)
    return None, methods
