"""The common service runner: fatal errors exit 2 and leave their reason for the healthcheck."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from smartcam.common.service import EXIT_FATAL, FatalError, run_service
from smartcam.common.settings import CameraSettings, ChannelSettings


class DemoSettings(CameraSettings, ChannelSettings):
    """A service reading the shared settings, including the camera id and the channel."""


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
    assert run_service("demo", DemoSettings, ran.append) == EXIT_FATAL
    assert ran == []
    state = json.loads(health_file.read_text())
    assert state["status"] == "failing"
    assert "SMARTCAM_CHANNEL='No Such Channel'" in state["reason"]


def test_fatal_error_in_the_body_exits_2_with_its_reason(health_file):
    def body(ctx):
        raise FatalError("model file /m/x.tflite is missing: set SMARTCAM_MODEL_DIR")

    assert run_service("demo", DemoSettings, body) == EXIT_FATAL
    assert json.loads(health_file.read_text())["reason"] == "model file /m/x.tflite is missing: set SMARTCAM_MODEL_DIR"


def test_body_that_returns_exits_0(health_file):
    def body(ctx):
        ctx.health.working()

    assert run_service("demo", DemoSettings, body) == 0
    assert json.loads(health_file.read_text())["status"] == "ok"


def test_a_camera_id_outside_the_wire_charset_is_a_bad_setting(health_file, monkeypatch):
    monkeypatch.setenv("SMARTCAM_CAMERA_ID", "front door €")
    assert run_service("demo", DemoSettings, lambda ctx: None) == EXIT_FATAL
    assert "SMARTCAM_CAMERA_ID='front door €'" in json.loads(health_file.read_text())["reason"]


def _winds_down_then_fails(ctx):
    """Like the uploader: its own shutdown (a `finally`) sets ctx.stop before the error reaches run_service."""
    try:
        raise FatalError("the delivery thread stopped: boom")
    finally:
        ctx.stop.set()


def test_the_fatal_hold_lasts_even_when_the_body_set_its_own_stop_flag(health_file, monkeypatch):
    monkeypatch.setenv("SMARTCAM_FATAL_HOLD_S", "0.5")
    started = time.monotonic()
    assert run_service("demo", DemoSettings, _winds_down_then_fails) == EXIT_FATAL
    assert time.monotonic() - started >= 0.5  # a lower bound: Event.wait never returns early unless set
    assert json.loads(health_file.read_text())["status"] == "failing"


def test_sigterm_during_the_fatal_hold_exits_at_once(health_file, monkeypatch):
    monkeypatch.setenv("SMARTCAM_FATAL_HOLD_S", "60")
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    assert run_service("demo", DemoSettings, _winds_down_then_fails) == EXIT_FATAL
    timer.join()
    assert time.monotonic() - started < 30  # generous: the hold was 60 s


HOLDING_SERVICE = """
import sys
from smartcam.common.service import FatalError, run_service
from smartcam.common.settings import CommonSettings

def body(ctx):
    try:
        raise FatalError("cannot work: demo")
    finally:
        ctx.stop.set()

sys.exit(run_service("demo", CommonSettings, body))
"""


def test_a_failed_service_process_stays_up_reporting_its_reason_then_exits_2(tmp_path):
    """A real process: it must still be running after it reported the failure, and end with 2 on SIGTERM."""
    health = tmp_path / "health.json"
    env = {**os.environ, "SMARTCAM_HEALTH_FILE": str(health), "SMARTCAM_FATAL_HOLD_S": "60",
           "SMARTCAM_CAMERA_ID": "cam-1", "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", HOLDING_SERVICE], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not health.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert health.exists(), process.stderr.read().decode() if process.poll() is not None else "no health file"
        assert json.loads(health.read_text())["reason"] == "cannot work: demo"
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(1.0)  # without the hold it is gone by now
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == EXIT_FATAL
    finally:
        process.kill()
        process.wait()
