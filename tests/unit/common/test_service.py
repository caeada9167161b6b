"""The common service runner: fatal errors exit 2 and leave their reason for the healthcheck."""

import json
import signal

import pytest

from smartcam.common.service import EXIT_FATAL, FatalError, run_service
from smartcam.common.settings import CommonSettings


@pytest.fixture(autouse=True)
def _restore_signals():
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def health_file(tmp_path, monkeypatch):
    path = tmp_path / "health.json"
    monkeypatch.setenv("SMARTCAM_HEALTH_FILE", str(path))
    monkeypatch.setenv("SMARTCAM_FATAL_HOLD_S", "0")
    return path


def test_bad_setting_exits_2_and_the_health_file_names_the_variable(health_file, monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "No Such Channel")
    ran = []
    assert run_service("demo", CommonSettings, ran.append) == EXIT_FATAL
    assert ran == []
    state = json.loads(health_file.read_text())
    assert state["status"] == "failing"
    assert "SMARTCAM_CHANNEL='No Such Channel'" in state["reason"]


def test_fatal_error_in_the_body_exits_2_with_its_reason(health_file):
    def body(ctx):
        raise FatalError("model file /m/x.tflite is missing: set SMARTCAM_MODEL_DIR")

    assert run_service("demo", CommonSettings, body) == EXIT_FATAL
    assert json.loads(health_file.read_text())["reason"] == "model file /m/x.tflite is missing: set SMARTCAM_MODEL_DIR"


def test_body_that_returns_exits_0(health_file):
    def body(ctx):
        ctx.health.working()

    assert run_service("demo", CommonSettings, body) == 0
    assert json.loads(health_file.read_text())["status"] == "ok"
