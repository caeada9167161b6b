"""scripts/publish: shellcheck-clean, and refuses a registry prefix it would publish wrongly or a missing signing key
(before building)."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PUBLISH = REPO / "scripts" / "publish"


def test_publish_is_shellcheck_clean():
    result = subprocess.run(["shellcheck", str(PUBLISH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def run(registry, *args):
    env = {k: v for k, v in os.environ.items() if k not in {"SMARTCAM_REGISTRY", "SMARTCAM_SIGN_KEY"}}
    if registry is not None:
        env["SMARTCAM_REGISTRY"] = registry
    return subprocess.run([str(PUBLISH), *args], env=env, capture_output=True, text=True, check=False, timeout=60)


def test_publish_needs_a_registry_prefix_ending_in_a_slash():
    assert "set SMARTCAM_REGISTRY" in run(None).stderr
    result = run("registry.example.com")
    assert result.returncode == 1
    assert "must end with '/'" in result.stderr


def test_publish_refuses_a_channel_that_is_not_a_tag():
    result = run("127.0.0.1:1/", "--channel", "Feature/X", "--allow-dirty", "--unsigned")
    assert result.returncode == 1
    assert "not a channel name" in result.stderr


def test_publish_refuses_to_publish_unsigned_unless_told(tmp_path):
    result = run("127.0.0.1:1/", "--channel", "devrelease", "--allow-dirty")
    assert result.returncode == 1
    assert "give the signing key: --sign-key KEY" in result.stderr
    result = run("127.0.0.1:1/", "--sign-key", str(tmp_path / "absent"), "--allow-dirty")
    assert result.returncode == 1
    assert f"no signing key at {tmp_path / 'absent'}" in result.stderr
    key = tmp_path / "key"
    key.write_text("x")
    result = run("127.0.0.1:1/", "--sign-key", str(key), "--unsigned")
    assert result.returncode == 1
    assert "choose one" in result.stderr


def test_sign_image_refuses_a_reference_without_a_digest(tmp_path):
    key = tmp_path / "key"
    key.write_text("x")
    result = subprocess.run([str(REPO / "scripts/sign-image"), str(key), "127.0.0.1:1/smartcam/infer:master"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1
    assert "is not REPOSITORY@sha256:<64 hex>" in result.stderr
