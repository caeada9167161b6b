"""A real Docker registry (Debian's docker-registry) on 127.0.0.1 for update tests.

The Docker daemon treats loopback registries as insecure-allowed, so images are pushed and
pulled over plain HTTP. The registry can be stopped and started again on the same port and
storage, to test what a device does while its registry is unreachable.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import find_free_port
from tests.signing import Signer

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def docker(*args: str, stdin: str | None = None, timeout: float = 600) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


class Registry:
    """`docker-registry serve` on a free loopback port with its storage under `workdir`; `signer` signs
    what is pushed, as scripts/publish does."""

    def __init__(self, workdir: Path, signer: Signer) -> None:
        self.signer = signer
        self._signed: set[tuple[str, str]] = set()  # (repository, digest)
        if shutil.which("docker-registry") is None:
            raise RuntimeError("the update tests need Debian's docker-registry (apt-get install docker-registry)")
        self.port = find_free_port()
        self.prefix = f"127.0.0.1:{self.port}/"  # the value of SMARTCAM_REGISTRY
        workdir.mkdir(parents=True, exist_ok=True)
        self._config = workdir / "config.yml"
        self._config.write_text(json.dumps({  # JSON is valid YAML
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }))
        self.log = workdir / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(["docker-registry", "serve", str(self._config)], stdout=log,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"registry did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def ref(self, service: str, tag: str) -> str:
        return f"{self.prefix}smartcam/{service}:{tag}"

    def push(self, local: str, service: str, tag: str, *, sign: bool = True) -> str:
        """Tag `local` as this registry's smartcam/<service>:<tag>, push it, return its registry digest.

        Signed unless `sign` is False, as scripts/publish does it: pushed under a tag no device polls,
        signed, and only then under `tag`, so a polling device never sees `tag` on an unsigned digest.
        """
        repository = f"{self.prefix}smartcam/{service}"
        if sign:
            staging = f"{repository}:staging-{tag}"
            docker("tag", local, staging)
            digest = self._push(staging)
            docker("rmi", staging)
            if (repository, digest) not in self._signed:
                self.signer.sign_image(repository, digest)
                self._signed.add((repository, digest))
        ref = self.ref(service, tag)
        docker("tag", local, ref)
        return self._push(ref)

    @staticmethod
    def _push(ref: str) -> str:
        output = docker("push", ref)
        match = re.search(r"digest: (sha256:[0-9a-f]{64})", output)
        if not match:
            raise RuntimeError(f"no digest in docker push output:\n{output}")
        return match.group(1)

    def digest(self, service: str, tag: str) -> str | None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v2/smartcam/{service}/manifests/{tag}",
                                         method="HEAD", headers={"Accept": MANIFEST_TYPES})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.headers["Docker-Content-Digest"]
        except urllib.error.HTTPError:
            return None

def build_variant(base: str, tag: str, *instructions: str) -> str:
    """A tiny image on top of `base` (one more layer), e.g. a new release or a broken healthcheck."""
    dockerfile = "\n".join([f"FROM {base}", *instructions, ""])
    docker("build", "-q", "-t", tag, "-", stdin=dockerfile)
    return tag
