"""Release signatures: SSH signatures (`ssh-keygen -Y`) over what the publisher released, checked offline
against the allowed_signers file host/postinstall installs, the same trust root as the channel's commits.

Images: a cosign-style "simple signing" payload naming the repository and the manifest digest, signed in
the `smartcam-image` namespace and stored in the same registry repository under cosign's tag convention
`<repository>:sha256-<hex>.sig`, as a layerless image whose labels hold the payload and the signature
(scripts/sign-image); so the Docker daemon, which holds the registry's address and credentials, fetches
it. Model manifests: a detached signature `<manifest URL>.sig` in the `smartcam-model` namespace, which
`ssh-keygen -Y sign -n smartcam-model manifest.json` writes.

Standard library only: scripts/sign-image imports it on the publisher's machine.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from pathlib import Path
from typing import Any

IMAGE_NAMESPACE = "smartcam-image"
MODEL_NAMESPACE = "smartcam-model"
PAYLOAD_LABEL = "dev.smartcam.signature.payload"  # base64 of the simple-signing payload (JSON)
SIGNATURE_LABEL = "dev.smartcam.signature.ssh"  # base64 of the armored SSH signature over the payload
PAYLOAD_TYPE = "cosign container image signature"
MAX_SIGNATURE_BYTES = 8192  # an SSH signature is under 1 kB (RSA-4096: ~1.2 kB)
KEYGEN_TIMEOUT_S = 30.0
SIGN_HINT = "sign it with scripts/publish --sign-key KEY (or scripts/sign-image KEY REF@DIGEST)"


class SignatureError(Exception):
    """The release is not signed by a key the device trusts; the message says why and how to fix it."""


def signature_tag(digest: str) -> str:
    """cosign's tag for the signature of `digest`: `sha256:ab…` -> `sha256-ab….sig`."""
    return digest.replace(":", "-") + ".sig"


def repository_path(repository: str) -> str:
    """The repository without its registry host (`127.0.0.1:5000/smartcam/infer` -> `smartcam/infer`):
    the key, not the address the device reaches the registry by, is what is trusted."""
    first, _, rest = repository.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else repository


def image_payload(repository: str, digest: str) -> bytes:
    """The simple-signing payload (cosign's format) for `repository@digest`."""
    return json.dumps({"critical": {"identity": {"docker-reference": repository_path(repository)},
                                    "image": {"docker-manifest-digest": digest}, "type": PAYLOAD_TYPE},
                       "optional": None}, sort_keys=True, separators=(",", ":")).encode()


def image_labels(payload: bytes, signature: bytes) -> dict[str, str]:
    """The labels of the signature image that carries `signature` of `payload`."""
    return {PAYLOAD_LABEL: base64.b64encode(payload).decode(), SIGNATURE_LABEL: base64.b64encode(signature).decode()}


def verify(data: bytes, signature: bytes, namespace: str, allowed_signers: Path) -> str:
    """The principal whose key signed `data` in `namespace`; SignatureError saying why not."""
    if not allowed_signers.is_file():
        raise SignatureError(f"cannot check signatures: no allowed signers file at {allowed_signers} "
                             "(SMARTCAM_RELEASE_SIGNERS); run host/postinstall, which installs it")
    if not signature.strip():
        raise SignatureError("the signature is empty")
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"the signature is over {MAX_SIGNATURE_BYTES} bytes, not an SSH signature")
    found = _keygen(["-Y", "find-principals", "-f", str(allowed_signers), "-n", namespace], signature, b"")
    principals = found.stdout.decode(errors="replace").split()
    if found.returncode != 0 or not principals:
        raise SignatureError(f"not signed by a key {allowed_signers} trusts for {namespace} "
                             f"({_said(found) or 'no matching principal'})")
    checked = _keygen(["-Y", "verify", "-f", str(allowed_signers), "-I", principals[0], "-n", namespace],
                      signature, data)
    if checked.returncode != 0:
        raise SignatureError(f"the signature does not match what was published ({_said(checked)})")
    return principals[0]


def check_image(labels: dict[str, str], repository: str, digest: str, allowed_signers: Path) -> None:
    """The signature image's labels sign `repository@digest`, by a trusted key; SignatureError if not."""
    try:
        payload = base64.b64decode(labels[PAYLOAD_LABEL], validate=True)
        signature = base64.b64decode(labels[SIGNATURE_LABEL], validate=True)
    except KeyError as error:
        raise SignatureError(f"the signature image has no {error.args[0]} label; not made by scripts/sign-image"
                             ) from None
    except (binascii.Error, ValueError):
        raise SignatureError("the signature image's labels are not base64") from None
    verify(payload, signature, IMAGE_NAMESPACE, allowed_signers)
    critical = _critical(payload)
    signed_digest = critical.get("image", {}).get("docker-manifest-digest")
    if signed_digest != digest:
        raise SignatureError(f"the signature is for {signed_digest}, not for {digest}")
    signed_repository = critical.get("identity", {}).get("docker-reference")
    if signed_repository != repository_path(repository):
        raise SignatureError(f"the signature is for repository {signed_repository}, not "
                             f"{repository_path(repository)}")


def _critical(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload)
        critical = document["critical"]
        if critical["type"] != PAYLOAD_TYPE or not isinstance(critical["image"], dict):
            raise ValueError(critical["type"])
        if not isinstance(critical["identity"], dict):
            raise ValueError("identity")
    except (ValueError, KeyError, TypeError):
        raise SignatureError("the signed payload is not a simple-signing payload for an image") from None
    return dict(critical)


def _keygen(args: list[str], signature: bytes, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run ssh-keygen with the signature handed over on a pipe (the updater's root filesystem is read-only)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, signature)  # <= MAX_SIGNATURE_BYTES: fits the pipe's buffer
        os.close(write_end)
        write_end = -1
        return subprocess.run(["ssh-keygen", *args, "-s", f"/dev/fd/{read_end}"], input=stdin,
                              pass_fds=(read_end,), capture_output=True, timeout=KEYGEN_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise SignatureError("cannot check signatures: ssh-keygen is not installed (openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise SignatureError(f"ssh-keygen did not finish within {KEYGEN_TIMEOUT_S:g}s") from None
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    """ssh-keygen's own words, one line, printable."""
    text = (result.stderr or result.stdout).decode(errors="replace")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:300]
