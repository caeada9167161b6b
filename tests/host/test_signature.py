import subprocess
from pathlib import Path

import pytest

from smartcam.cmds.signature import SignatureError, verify


@pytest.fixture
def signed(tmp_path: Path, keys: dict[str, Path], sign) -> Path:
    file = tmp_path / "custom_cmds"
    file.write_text("1767225600 @ true\n")
    sign(file, keys["trusted"])
    return file


def test_a_file_signed_by_the_trusted_key_verifies(signed: Path, keys: dict[str, Path]):
    verify(signed.read_bytes(), Path(f"{signed}.sig").read_bytes(), Path(f"{keys['trusted']}.pub"))


def test_a_file_changed_after_signing_is_rejected(signed: Path, keys: dict[str, Path]):
    tampered = signed.read_bytes().replace(b"true", b"reboot")
    with pytest.raises(SignatureError, match="changed after signing or signed by another key"):
        verify(tampered, Path(f"{signed}.sig").read_bytes(), Path(f"{keys['trusted']}.pub"))


def test_a_file_signed_by_another_key_is_rejected(signed: Path, keys: dict[str, Path], sign):
    sign(signed, keys["other"])
    with pytest.raises(SignatureError, match="not valid for the key"):
        verify(signed.read_bytes(), Path(f"{signed}.sig").read_bytes(), Path(f"{keys['trusted']}.pub"))


def test_a_signature_for_another_namespace_is_rejected(signed: Path, keys: dict[str, Path]):
    Path(f"{signed}.sig").unlink()
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys["trusted"]), "-n", "file", str(signed)],
                   check=True, capture_output=True)
    with pytest.raises(SignatureError):
        verify(signed.read_bytes(), Path(f"{signed}.sig").read_bytes(), Path(f"{keys['trusted']}.pub"))


def test_an_unsigned_file_is_rejected(signed: Path, keys: dict[str, Path]):
    with pytest.raises(SignatureError, match="not signed"):
        verify(signed.read_bytes(), b"", Path(f"{keys['trusted']}.pub"))


def test_a_missing_or_malformed_public_key_is_named(signed: Path, tmp_path: Path):
    signature = Path(f"{signed}.sig").read_bytes()
    with pytest.raises(SignatureError, match=r"cannot read the custom_cmds public key .*missing\.pub"):
        verify(signed.read_bytes(), signature, tmp_path / "missing.pub")
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key\n")
    with pytest.raises(SignatureError, match="is not an OpenSSH public key"):
        verify(signed.read_bytes(), signature, garbage)
