"""scripts/audit-requirements (run by scripts/test) against an OSV API stand-in on loopback, with the real pip-audit.

The stand-in answers like https://api.osv.dev/v1/query: an advisory for the packages in `advisories`,
nothing for the rest; it records every query, so the test sees what was audited.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/audit-requirements"


class JsonStandIn:
    """A loopback HTTP server under `mount` answering JSON: `answer(path, request body as JSON or None)` gives
    the document to send, or None for a 404."""

    def __init__(self, mount: str, answer: Callable[[str, Any], object | None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(None)

            def do_POST(self) -> None:
                self._reply(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

            def _reply(self, request: Any) -> None:
                document = answer(self.path, request)
                if document is None:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}{mount}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class OsvStandIn(JsonStandIn):
    def __init__(self) -> None:
        self.advisories: dict[tuple[str, str], dict[str, object]] = {}
        self.queries: list[tuple[str, str]] = []
        super().__init__("/v1/query", self._answer)

    def _answer(self, _path: str, query: Any) -> object:
        key = (query["package"]["name"], query["version"])
        self.queries.append(key)
        advisory = self.advisories.get(key)
        return {"vulns": [advisory]} if advisory else {}


@pytest.fixture
def osv() -> Iterator[OsvStandIn]:
    served = OsvStandIn()
    yield served
    served.close()


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          check=False)


def pinned_version(path: str, name: str) -> str:
    for line in (ROOT / path).read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==")[1].split()[0]
    raise AssertionError(f"{name} is not pinned in {path}")


def test_a_known_vulnerability_fails_naming_the_advisory_the_fix_and_the_pinning_files(osv):
    version = pinned_version("services/uploader/requirements.txt", "urllib3")
    osv.advisories["urllib3", version] = {
        "id": "GHSA-test-0001", "aliases": ["CVE-2026-0001"], "summary": "redirects leak headers",
        "affected": [{"package": {"name": "urllib3", "ecosystem": "PyPI"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9.9"}]}]}]}
    result = audit("--osv-url", osv.url)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if "GHSA-test-0001" in line]
    assert f"urllib3=={version}" in line
    assert "fixed in 9.9.9" in line
    assert "services/uploader/requirements.txt:" in line
    assert "services/updater/requirements.txt:" in line
    # every requirements file was read, and what they leave unpinned was audited as installed
    queried = {name for name, _ in osv.queries}
    assert {"pyzmq", "pillow", "pynmea2", "ai-edge-litert", "croniter", "python-dotenv", "pytest", "numpy"} <= queried


def test_no_advisory_passes(osv):
    result = audit("--osv-url", osv.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no known vulnerabilities" in result.stdout


def test_an_unreachable_service_fails_with_the_reason(osv):
    url = osv.url
    osv.close()  # nothing listens there any more
    result = audit("--osv-url", url)
    assert result.returncode == 1
    assert "pip-audit could not run" in result.stderr
    assert "README's test command section" in result.stderr


class ProjectApiStandIn(JsonStandIn):
    """PyPI's project API (`/pypi/<name>/json`): the latest release and the advisories affecting it."""

    def __init__(self, projects: dict[str, dict[str, object]]) -> None:
        super().__init__("/pypi", lambda path, _request: projects.get(path.split("/")[-2]))


def test_without_the_per_version_api_the_latest_release_is_checked_by_the_project_api():
    spec = spec_from_loader("audit_requirements", SourceFileLoader("audit_requirements", str(SCRIPT)))
    assert spec is not None
    assert spec.loader is not None
    script = module_from_spec(spec)
    spec.loader.exec_module(script)
    api = ProjectApiStandIn({
        "affected": {"info": {"version": "2.0"},
                     "vulnerabilities": [{"id": "GHSA-test-0002", "fixed_in": ["2.1"]}]},
        "clean": {"info": {"version": "1.5"}, "vulnerabilities": []},
    })
    try:
        assert script.latest_release_advisories("affected", "2.0", api.url) == ["GHSA-test-0002 (fixed in 2.1)"]
        assert script.latest_release_advisories("clean", "1.5", api.url) == []
        # an older release: the project API's advisories are not about it, so it stays unchecked
        assert script.latest_release_advisories("clean", "1.4", api.url) is None
        assert script.latest_release_advisories("unknown", "1.0", api.url) is None
    finally:
        api.close()
