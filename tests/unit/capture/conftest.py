"""Shared helpers for the capture tests: the real embedded photos, settings, and waiting for threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smartcam.capture.settings import CaptureSettings
from smartcam.common.pipeline_keys import CurveClient, own_keys, read_public_key
from smartcam.common.settings import load_settings

PHOTOS = Path(__file__).resolve().parents[3] / "services" / "capture" / "photos"


@pytest.fixture
def make_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., CaptureSettings]:
    """Settings loaded the way the service loads them: from SMARTCAM_* variables; the folders capture writes
    (status document, pipeline keys) in the test's own folder, never the machine's /var/lib/smartcam."""
    monkeypatch.setenv("SMARTCAM_STATUS_DIR", str(tmp_path / "status"))
    monkeypatch.setenv("SMARTCAM_PIPELINE_KEYS_DIR", str(tmp_path / "pipeline-keys"))

    def make(**variables: object) -> CaptureSettings:
        for name, value in variables.items():
            monkeypatch.setenv(f"SMARTCAM_{name.upper()}", str(value))
        return load_settings(CaptureSettings)

    return make


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> object:
    """Poll `condition` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def as_infer(keys_dir: Path) -> CurveClient:
    """CURVE options of a frame consumer holding infer's keys (published, so capture admits it), once capture
    has published its own."""
    assert wait_for(lambda: read_public_key(keys_dir, "capture") is not None, timeout=10), "capture made no key"
    capture_key = read_public_key(keys_dir, "capture")
    assert capture_key is not None
    return CurveClient(own_keys(keys_dir, "infer"), capture_key)
