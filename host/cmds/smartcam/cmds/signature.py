"""Authenticity of custom_cmds: an OpenSSH signature (`ssh-keygen -Y sign`) by the installed key.

OpenSSH is on every host this runs on, so the check needs no extra library: the public key file
postinstall installed is turned into a one-line allowed-signers file, and `ssh-keygen -Y verify`
decides. The namespace binds a signature to this use, so a key's other signatures do not count.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

NAMESPACE = "smartcam-custom-cmds"
SIGNER_IDENTITY = "custom-cmds-signer"
_VERIFY_TIMEOUT_S = 30.0


class SignatureError(Exception):
    """The file must not run: no signature, a signature by another key, or changed after signing."""


def read_public_key(path: Path) -> str:
    """The key as `TYPE BASE64`, or SignatureError naming the file and what is wrong with it."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise SignatureError(f"cannot read the custom_cmds public key {path}: {error.strerror}; "
                             "run host/postinstall or set SMARTCAM_PUBLIC_KEY") from None
    fields = text.split()
    if len(text.splitlines()) != 1 or len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise SignatureError(f"{path} is not an OpenSSH public key (one line 'ssh-ed25519 AAAA... comment')")
    return f"{fields[0]} {fields[1]}"


def verify(data: bytes, signature: bytes, public_key: Path) -> None:
    """Return only if `signature` is a valid signature of `data` by `public_key`."""
    key = read_public_key(public_key)
    if not signature.strip():
        raise SignatureError("custom_cmds is not signed (no or empty custom_cmds.sig); nothing runs")
    with tempfile.TemporaryDirectory(prefix="smartcam-verify-") as folder:
        allowed = Path(folder, "allowed_signers")
        allowed.write_text(f'{SIGNER_IDENTITY} namespaces="{NAMESPACE}" {key}\n')
        signature_file = Path(folder, "custom_cmds.sig")
        signature_file.write_bytes(signature)
        try:
            result = subprocess.run(
                ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", SIGNER_IDENTITY,
                 "-n", NAMESPACE, "-s", str(signature_file)],
                input=data, capture_output=True, timeout=_VERIFY_TIMEOUT_S, check=False,
            )
        except FileNotFoundError:
            raise SignatureError("ssh-keygen not found; install openssh-client") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"ssh-keygen exited {result.returncode}"
        raise SignatureError(f"custom_cmds signature is not valid for the key {public_key} ({reason}): "
                             "the file was changed after signing or signed by another key; nothing runs")
