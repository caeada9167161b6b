"""Shared helpers for the capture tests: the real embedded photos, settings, and waiting for threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smartcam.capture.settings import CaptureSettings
from smartcam.common.settings import load_settings

PHOTOS = Path(__file__).resolve().parents[3] / "services" / "capture" / "photos"


@pytest.fixture
def make_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CaptureSettings]:
    """Settings loaded the way the service loads them: from SMARTCAM_* variables."""

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
