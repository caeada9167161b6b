"""Release signing keys for tests: a real ed25519 key pair made by ssh-keygen, an allowed_signers file
trusting it for images and model manifests, and signing the way publishers do (ssh-keygen -Y sign)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from smartcam.updater.signatures import IMAGE_NAMESPACE, MODEL_NAMESPACE

REPO = Path(__file__).resolve().parent.parent


class Signer:
    """A publisher's key in `directory`: `key` (private), `allowed_signers` (what a device trusting it installs)."""

    def __init__(self, directory: Path, principal: str = "smartcam-release") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.key = directory / "release_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(self.key)],
                       check=True, capture_output=True)
        public = (directory / "release_key.pub").read_text().strip()
        self.allowed_signers = directory / "allowed_signers"
        self.allowed_signers.write_text(f'{principal} namespaces="{IMAGE_NAMESPACE},{MODEL_NAMESPACE}" {public}\n')
        self.allowed_signers.chmod(0o644)

    def sign(self, data: bytes, namespace: str = MODEL_NAMESPACE) -> bytes:
        """The armored SSH signature of `data`."""
        return subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(self.key), "-n", namespace], input=data,
                              check=True, capture_output=True).stdout

    def sign_file(self, path: Path, namespace: str = MODEL_NAMESPACE) -> Path:
        """Write `<path>.sig` beside `path`, as a publisher does for a model manifest."""
        signature = path.with_name(path.name + ".sig")
        signature.write_bytes(self.sign(path.read_bytes(), namespace))
        return signature

    def sign_image(self, repository: str, digest: str) -> str:
        """Push the signature of `repository@digest` with scripts/sign-image; its reference."""
        result = subprocess.run([str(REPO / "scripts/sign-image"), str(self.key), f"{repository}@{digest}"],
                                capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"sign-image failed: {result.stdout}{result.stderr}")
        return result.stdout.strip()
