"""Every documented setting, set in an env file, reaches its container: compose passes it and the service reports it.

One env file (Compose's `--env-file`, the mechanism behind `.env`) sets every user setting of every container,
and the host folders compose mounts, to a valid value that is not the default. `docker compose config` must
carry each one, and each service's `settings {...}` start-up line must report each of its variables with it.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from smartcam.capture.settings import CaptureSettings
from smartcam.common.compose_settings import ComposeSettings
from smartcam.common.settings import Scope, env_name, field_scope
from smartcam.demo_sink.settings import DemoSinkSettings
from smartcam.docker_api.settings import DockerApiSettings
from smartcam.infer.settings import InferSettings
from smartcam.updater.settings import UpdaterSettings
from smartcam.uploader.settings import UploaderSettings
from tests.integration.harness import REPO, TEST_CHANNEL

SERVICES = {"capture": CaptureSettings, "infer": InferSettings, "uploader": UploaderSettings,
            "updater": UpdaterSettings, "demo-sink": DemoSinkSettings, "docker-api": DockerApiSettings}
REGISTRY = "127.0.0.1:5999/"  # an image prefix too: the test tags the images under it
IMAGES = ("capture", "infer", "uploader", "updater", "demo-sink", "docker-api")
SETTINGS_LINE = re.compile(r" settings (\{.*\})$", re.M)

# A valid, non-default value for every user setting of every container (the test fails if one is missing).
CONTAINER_VALUES = {
    "SMARTCAM_LOG_LEVEL": "DEBUG", "SMARTCAM_FATAL_HOLD_S": "7", "SMARTCAM_CAMERA_ID": "cam-settings-it",
    "SMARTCAM_CHANNEL": TEST_CHANNEL,
    # capture
    "SMARTCAM_SOURCE": "replay:/opt/smartcam/photos/*.jpg", "SMARTCAM_FPS": "3", "SMARTCAM_FRAME_WIDTH": "640",
    "SMARTCAM_FRAME_HEIGHT": "480", "SMARTCAM_PIXEL_FORMAT": "BGR24", "SMARTCAM_LORES_WIDTH": "320",
    "SMARTCAM_LORES_HEIGHT": "240", "SMARTCAM_LOCATION": "fixed:52.52,13.405", "SMARTCAM_LOCATION_MAX_AGE_S": "11",
    "SMARTCAM_FRAME_TRANSPORT": "tcp", "SMARTCAM_REPLAY_ON_DEMAND": "true",
    # infer
    "SMARTCAM_MODEL_DIR": "/opt/smartcam/models/../models/blazeface-short-range", "SMARTCAM_INFERENCE_THREADS": "2",
    "SMARTCAM_DETECT_LABELS": "face:0.6", "SMARTCAM_COOLDOWN_S": "31", "SMARTCAM_BASELINE_EVERY_N": "5",
    "SMARTCAM_BLUR_LABELS": "face,person", "SMARTCAM_BLUR_MARGIN": "0.3", "SMARTCAM_JPEG_QUALITY": "80",
    "SMARTCAM_JPEG_MAX_SIZE": "320", "SMARTCAM_MAX_UNACKED_EVENTS": "150", "SMARTCAM_ACK_TIMEOUT_S": "9",
    "SMARTCAM_MODEL_CHECK_INTERVAL_S": "6", "SMARTCAM_TRIAL_FRAMES": "4", "SMARTCAM_TRIAL_MAX_DETECTIONS": "40",
    "SMARTCAM_TRIAL_MIN_RECALL": "0.4", "SMARTCAM_PRIVACY_FACES": "false",
    "SMARTCAM_PRIVACY_MODEL_DIR": "/opt/smartcam/models/../models/blazeface-short-range",
    "SMARTCAM_PRIVACY_MIN_SCORE": "0.6", "SMARTCAM_IGNORE_ZONES": "0,0.95 1,0.95 1,1 0,1",
    "SMARTCAM_ZONES": "road=0,0.6 1,0.6 1,1 0,1; sky=0,0 1,0 1,0.3", "SMARTCAM_PRIVACY_MASKS": "0,0 0.1,0 0.1,0.1",
    "SMARTCAM_CAMERA_HEALTH_AFTER_S": "61", "SMARTCAM_CAMERA_HEALTH_REFERENCE_S": "1800",
    "SMARTCAM_CAMERA_HEALTH_DARK_BELOW": "0.1", "SMARTCAM_CAMERA_HEALTH_BLUR_RATIO": "0.25",
    "SMARTCAM_CAMERA_HEALTH_SCENE_MIN_CORRELATION": "0.4",
    # uploader
    "SMARTCAM_UPLOAD_URL": "http://target.invalid:8080/events", "SMARTCAM_QUEUE_BUDGET_MB": "512",
    "SMARTCAM_CONNECT_TIMEOUT_S": "14", "SMARTCAM_READ_TIMEOUT_S": "59", "SMARTCAM_ATTEMPT_DEADLINE_S": "299",
    "SMARTCAM_STUCK_AFTER_ATTEMPTS": "19", "SMARTCAM_BACKOFF_BASE_S": "3", "SMARTCAM_BACKOFF_CAP_S": "299",
    "SMARTCAM_MAX_IN_FLIGHT": "2", "SMARTCAM_UPLOAD_RATE_BPS": "50000", "SMARTCAM_DAILY_BUDGET_MB": "100",
    "SMARTCAM_BUDGET_PERIOD_S": "43200", "SMARTCAM_MONTHLY_BUDGET_MB": "2000",
    "SMARTCAM_MONTHLY_BUDGET_PERIOD_S": "1209600", "SMARTCAM_UPLOAD_WINDOWS": "samples=0 1 * * * for 7200",
    "SMARTCAM_PAYLOAD_FORMAT": "multipart", "SMARTCAM_TLS_VERIFY": "false",
    "SMARTCAM_AUTH_TOKEN_FILE": "/etc/smartcam/token", "SMARTCAM_AUTH_HEADER_FILE": "/etc/smartcam/header",
    "SMARTCAM_HEARTBEAT_URL": "/hb", "SMARTCAM_HEARTBEAT_INTERVAL_S": "601",
    # updater
    "SMARTCAM_REGISTRY": REGISTRY, "SMARTCAM_UPDATE_SERVICES": "infer,capture",
    "SMARTCAM_POLL_INTERVAL_MASTER_S": "301", "SMARTCAM_POLL_INTERVAL_DEVRELEASE_S": "1801",
    "SMARTCAM_POLL_INTERVAL_RELEASE_S": "21601", "SMARTCAM_POLL_INTERVAL_S": "999", "SMARTCAM_POLL_JITTER": "0.2",
    "SMARTCAM_RETRY_INITIAL_S": "29", "SMARTCAM_HEALTH_TIMEOUT_S": "181", "SMARTCAM_MIN_FREE_DISK_MB": "301",
    "SMARTCAM_FIRST_POLL_DELAY_S": "31", "SMARTCAM_MODEL_MANIFEST_URL": "https://models.invalid/{channel}/m.json",
    "SMARTCAM_MODEL_POLL_INTERVAL_S": "3601", "SMARTCAM_MODEL_MANIFEST_TIMEOUT_S": "29",
    "SMARTCAM_MODEL_DOWNLOAD_TIMEOUT_S": "899", "SMARTCAM_MODEL_MAX_MB": "255", "SMARTCAM_MODEL_MIN_FREE_MB": "63",
    "SMARTCAM_MODEL_VERDICT_TIMEOUT_S": "599", "SMARTCAM_MODEL_RETRY_REJECTED_S": "86399",
    "SMARTCAM_MODEL_DOWNLOAD_ORIGINS": "https://cdn.models.invalid,https://mirror.models.invalid:8443",
    "SMARTCAM_UPDATE_WINDOW": "0 2 * * *", "SMARTCAM_UPDATE_WINDOW_LENGTH_S": "7200",
}


def user_variables(cls):
    return {env_name(name): name for name, info in cls.model_fields.items() if field_scope(info) is Scope.USER}


def expected_report(cls):
    """What the service's settings line must say: the env file's values, as the class parses them."""
    fields = user_variables(cls)
    given = cls(**{field: CONTAINER_VALUES[variable] for variable, field in fields.items()}).model_dump(mode="json")
    default = cls().model_dump(mode="json")
    for variable, field in fields.items():
        assert given[field] != default[field], f"{variable}={CONTAINER_VALUES[variable]} is its default; pick another"
    return {variable: given[field] for variable, field in fields.items()}


@pytest.fixture
def env_file(tmp_path):
    folders = {"SMARTCAM_CONFIG_DIR": tmp_path / "config", "SMARTCAM_CMDS_DIR": tmp_path / "cmds",
               "SMARTCAM_CHECKOUT_DIR": tmp_path / "checkout", "SMARTCAM_DOCKER_SOCKET": tmp_path / "docker.sock"}
    for folder in folders.values():
        folder.mkdir()
    signers = tmp_path / "allowed_signers"
    signers.write_text("")
    values = {**CONTAINER_VALUES, **{name: str(path) for name, path in folders.items()},
              "SMARTCAM_HOST_RELEASE_SIGNERS": str(signers)}
    path = tmp_path / "settings.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path, values


def run(env_file, project, *args, check=True, timeout=120):
    # Only the env file sets settings: none may come from this process's environment.
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("SMARTCAM_", "COMPOSE_"))}
    command = ["docker", "compose", "--project-directory", str(REPO), "-p", project, "-f", str(REPO / "compose.yaml"),
               "--env-file", str(env_file), *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, check=check, timeout=timeout)


def docker(*args):
    subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60)


def test_every_documented_variable_has_a_test_value():
    documented = set().union(*(user_variables(cls) for cls in SERVICES.values()))
    assert documented == set(CONTAINER_VALUES)


def test_compose_passes_every_variable_of_an_env_file(env_file):
    path, values = env_file
    config = json.loads(run(path, f"settings-config-{uuid.uuid4().hex[:8]}", "--profile", "demo", "config",
                            "--format", "json").stdout)
    for service, cls in SERVICES.items():
        environment = config["services"][service]["environment"]
        for variable in user_variables(cls):
            assert environment.get(variable) == values[variable], f"{service} does not get {variable}"
    uploader_mounts = {m["target"]: m["source"] for m in config["services"]["uploader"]["volumes"]}
    assert uploader_mounts["/etc/smartcam"] == values["SMARTCAM_CONFIG_DIR"]
    assert uploader_mounts["/var/lib/smartcam/cmds"] == values["SMARTCAM_CMDS_DIR"]
    assert uploader_mounts["/var/lib/smartcam/checkout"] == values["SMARTCAM_CHECKOUT_DIR"]
    docker_api = {m["target"]: m["source"] for m in config["services"]["docker-api"]["volumes"]}
    assert docker_api["/var/run/docker.sock"] == values["SMARTCAM_DOCKER_SOCKET"]
    updater_mounts = {m["target"]: m["source"] for m in config["services"]["updater"]["volumes"]}
    assert updater_mounts["/etc/smartcam/allowed_signers"] == values["SMARTCAM_HOST_RELEASE_SIGNERS"]
    for name in user_variables(ComposeSettings):
        assert name in values, f"{name}: give the compose-level variable a test value above"
    assert config["services"]["capture"]["image"] == f"{REGISTRY}smartcam/capture:{TEST_CHANNEL}"


@pytest.fixture
def registry_tags(images):
    """The test images under the registry prefix of the env file (tags only; the images stay)."""
    tags = [f"{REGISTRY}smartcam/{name}:{TEST_CHANNEL}" for name in IMAGES]
    for name, tag in zip(IMAGES, tags, strict=True):
        docker("tag", f"smartcam/{name}:{TEST_CHANNEL}", tag)
    yield
    docker("rmi", *tags)


def test_every_service_reports_every_variable_of_an_env_file(env_file, registry_tags):
    path, _ = env_file
    project = f"settings-it-{uuid.uuid4().hex[:8]}"
    try:
        run(path, project, "--profile", "demo", "up", "-d", "--no-build", "--no-deps", "--pull", "never",
            *SERVICES)
        reports: dict[str, dict] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(reports) < len(SERVICES):
            for service in set(SERVICES) - set(reports):
                logs = run(path, project, "logs", "--no-color", "--no-log-prefix", service, check=False).stdout
                if match := SETTINGS_LINE.search(logs):
                    reports[service] = json.loads(match[1])
            time.sleep(1)
        assert set(reports) == set(SERVICES), f"no settings line from {set(SERVICES) - set(reports)}"
        for service, cls in SERVICES.items():
            expected = expected_report(cls)
            reported = {variable: reports[service].get(variable) for variable in expected}
            assert reported == expected, f"{service} did not get every variable of the env file"
    finally:
        run(path, project, "--profile", "demo", "down", "-v", "--remove-orphans", "-t", "2", check=False)
