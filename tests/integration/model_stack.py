"""A compose stack with a real model server (python -m http.server in a container on `egress`).

The updater container cannot reach the host's loopback, so the channel's manifest and model files
are served from a host folder mounted into a small container on the project's own network.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path

from smartcam.common.history import UpdateHistory
from tests.integration.harness import REPO, TEST_CHANNEL, Stack, compose
from tests.signing import Signer

TINY_SSD_DIR = REPO / "tests/fixtures/models/tiny-ssd"
BLAZEFACE_DIR = REPO / "services/infer/models/blazeface-short-range"
MANIFEST_URL = "http://models:8000/{channel}/manifest.json"


class ModelStack(Stack):
    """Stack + `models` file server + the updater running its model-update step (history on the host)."""

    def __init__(self, workdir: Path, settings: dict[str, str], signer: Signer) -> None:
        super().__init__(workdir, {**settings, "SMARTCAM_HOST_RELEASE_SIGNERS": str(signer.allowed_signers)})
        self.signer = signer
        self.manifest_digest = ""  # sha256 of the manifest last published (what a refusal of it records)
        self.www = workdir / "www"
        (self.www / TEST_CHANNEL).mkdir(parents=True)
        for path in (self.www, self.www / TEST_CHANNEL):
            path.chmod(0o755)
        self.history_dir = workdir / "updater-state"
        self.history_dir.mkdir()
        self.history_dir.chmod(0o777)  # written by the updater's unprivileged user
        extra = {
            "services": {
                "models": {
                    "image": f"smartcam/demo-sink:{TEST_CHANNEL}",
                    "user": "10001:10001",
                    "read_only": True,
                    "command": ["python", "-m", "http.server", "8000", "--directory", "/www"],
                    "volumes": [f"{self.www}:/www:ro"],
                    "networks": ["egress"],
                    "healthcheck": {"disable": True},
                },
                "updater": {  # the real updater; image updates stay off (SMARTCAM_REGISTRY is empty)
                    "environment": {"SMARTCAM_MODEL_MANIFEST_URL": MANIFEST_URL,
                                    "SMARTCAM_MODEL_POLL_INTERVAL_S": "2"},
                    "volumes": [f"{self.history_dir}:/var/lib/smartcam/updater"],
                },
            },
        }
        self.models_override = workdir / "compose.models.yaml"
        self.models_override.write_text(json.dumps(extra))

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return compose(*args, project=self.project, env=self.env,
                       files=[REPO / "compose.yaml", self.override, self.models_override], check=check, timeout=timeout)

    def publish(self, source: Path, served: bytes | None = None, manifest_sha_of: bytes | None = None,
                signer: Signer | None = None) -> str:
        """Publish `source` for the test channel, its manifest signed by `signer` (default: the key the device
        trusts); return the sha256 the manifest announces.

        `served` replaces the file on the server; `manifest_sha_of` makes the manifest describe other bytes.
        """
        manifest = json.loads((source / "manifest.json").read_text())
        real = (source / manifest["model_file"]).read_bytes()
        described = real if manifest_sha_of is None else manifest_sha_of
        manifest.update(sha256=hashlib.sha256(described).hexdigest(), size_bytes=len(described), url="model.tflite")
        folder = self.www / TEST_CHANNEL
        document = json.dumps(manifest).encode()
        self.manifest_digest = hashlib.sha256(document).hexdigest()
        signature = (signer or self.signer).sign(document)
        for name, data in (("model.tflite", real if served is None else served), ("manifest.json.sig", signature),
                           ("manifest.json", document)):
            temporary = folder / f".{name}.tmp"
            temporary.write_bytes(data)
            temporary.chmod(0o644)
            temporary.rename(folder / name)  # the server never serves half a file
        return manifest["sha256"]

    def history(self) -> list[dict]:
        return [asdict(record) for record in UpdateHistory(self.history_dir / "history.json").records()]

    def container_state(self, service: str) -> dict:
        container = self.run("ps", "-q", service).stdout.strip()
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
        info = json.loads(out)[0]
        return {"id": info["Id"], "started_at": info["State"]["StartedAt"], "restarts": info["RestartCount"]}

    def health_file(self, service: str) -> dict:
        out = self.run("exec", "-T", service, "cat", "/run/smartcam/health.json").stdout
        return json.loads(out)
