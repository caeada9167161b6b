"""Bad settings and files in the real containers: one clear error, exit 2, restart, healthcheck says why."""

import json
import subprocess
import time

import pytest

from tests.integration.harness import Stack


def run_once(stack: Stack, service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["run", "--rm", "--no-deps", "-T"]
    for name, value in {"SMARTCAM_FATAL_HOLD_S": "0", **env}.items():
        args += ["-e", f"{name}={value}"]
    return stack.run(*args, service, check=False, timeout=120)


@pytest.mark.parametrize(("service", "env", "expected"), [
    ("capture", {"SMARTCAM_SOURCE": "webcam:0"}, ["SMARTCAM_SOURCE", "replay:", "picamera2"]),
    ("capture", {"SMARTCAM_SOURCE": "replay:/tmp"}, ["/tmp", "no photos"]),
    ("capture", {"SMARTCAM_SOURCE": "replay:/nonexistent/photos"}, ["/nonexistent/photos"]),
    ("infer", {"SMARTCAM_MODEL_DIR": "/nonexistent/model"}, ["/nonexistent/model", "SMARTCAM_MODEL_DIR"]),
    ("infer", {"SMARTCAM_DETECT_LABELS": "face=high"}, ["SMARTCAM_DETECT_LABELS"]),
    ("uploader", {"SMARTCAM_UPLOAD_URL": "htp//camera-events"}, ["SMARTCAM_UPLOAD_URL", "http"]),
])
def test_service_with_bad_input_exits_2_naming_the_setting(stack_factory, service, env, expected):
    stack = stack_factory({})
    result = run_once(stack, service, env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, output
    for word in expected:
        assert word.lower() in errors[0].lower(), errors[0]


def test_broken_model_is_restarted_by_compose_and_its_healthcheck_says_why(stack_factory):
    stack = stack_factory({"SMARTCAM_MODEL_DIR": "/opt/smartcam/models/missing"})
    stack.up("infer")
    container = stack.run("ps", "-a", "-q", "infer").stdout.strip()

    def inspect():
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]["State"]

    deadline = time.monotonic() + 90
    state = inspect()
    while time.monotonic() < deadline:
        state = inspect()
        probes = (state.get("Health") or {}).get("Log") or []
        restarts = json.loads(subprocess.run(["docker", "inspect", "--format", "{{json .RestartCount}}", container],
                                             capture_output=True, text=True, check=True).stdout)
        if restarts >= 1 and any("failing" in p["Output"] for p in probes):
            break
        time.sleep(2)
    probes = state["Health"]["Log"]
    assert restarts >= 1
    failing = [p["Output"] for p in probes if "failing" in p["Output"]]
    assert failing, probes
    assert "/opt/smartcam/models/missing" in failing[-1]
