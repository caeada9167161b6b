"""host/postinstall for real, twice, as root inside a fresh Debian 12 container.

What this covers for real: the online check, apt update/upgrade and package installs from Debian's
mirror, nftables rules loaded into the container's network namespace (NET_ADMIN), the camera id and
live hostname (SYS_ADMIN), the tmpfs scratch mount, /etc/smartcam, the cmds venv from PyPI, units
written and enabled with systemctl, and the installed cmds service verifying the signed custom_cmds.
It then asserts that a second run changes no file and runs no installer.

What it cannot cover: there is no systemd (PID 1) or dockerd in a plain container, so units are not
started and images are not built; Docker's own apt repository (Compose v2) is unreachable here, so
the host's docker CLI and Compose plugin are mounted in and the step takes its "already present" path.
"""

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "debian:bookworm-slim"
PLUGIN_FOLDERS = ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
                  "/usr/lib/docker/cli-plugins", str(Path.home() / ".docker" / "cli-plugins"))
VENV_PYTHON = "/usr/local/lib/smartcam/venv/bin/python3"

pytestmark = pytest.mark.integration


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    if shutil.which("docker") is None or docker("image", "inspect", IMAGE).returncode != 0:
        pytest.fail(f"needs Docker and the local image {IMAGE} (scripts/build-base-image builds it)")
    name = f"smartcam-postinstall-test-{uuid.uuid4().hex[:8]}"
    plugin = next((Path(f, "docker-compose") for f in PLUGIN_FOLDERS if Path(f, "docker-compose").exists()), None)
    if plugin is None:
        pytest.fail(f"needs the Docker Compose v2 plugin in one of {PLUGIN_FOLDERS}")
    target = "/usr/local/lib/docker/cli-plugins/docker-compose"
    mounts = ["-v", f"{REPO}:/opt/smartcam:ro", "-v", f"{shutil.which('docker')}:/usr/bin/docker:ro",
              "-v", f"{plugin}:{target}:ro"]
    started = docker("run", "-d", "--rm", "--name", name, "--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN",
                     *mounts, IMAGE, "sleep", "infinity")
    assert started.returncode == 0, started.stderr
    try:
        yield name
    finally:
        docker("rm", "-f", name)


def run_in(container: str, script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return docker("exec", container, "bash", "-c", script, timeout=timeout)


# Every file outside the kernel's and apt's caches: a second run must leave all of them as they were.
FINGERPRINT = ("find /etc /usr /var/lib /opt -xdev -type f ! -path '/var/lib/apt/lists/*' -print0 "
               "| sort -z | xargs -0 sha256sum | sha256sum")


def test_postinstall_sets_up_a_debian_host_and_a_second_run_changes_nothing(container):
    first = run_in(container, "/opt/smartcam/host/postinstall --branch=devrelease "
                              "--upload-url=https://events.example/api", timeout=200)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "[ 1/14] online check (deb.debian.org:80)" in first.stdout

    camera_id = run_in(container, "cat /etc/smartcam/camera_id").stdout.strip()
    assert camera_id.startswith("smartcam-")
    assert run_in(container, "hostname").stdout.strip() == camera_id
    rules = run_in(container, "nft list table inet smartcam").stdout
    assert "policy drop;" in rules
    assert "ct state established,related accept" in rules
    assert 'tcp dport 22 accept comment "SSH"' in rules
    assert run_in(container, "findmnt -n -o FSTYPE /var/lib/smartcam/scratch").stdout.strip() == "tmpfs"
    enabled = run_in(container, "systemctl is-enabled nftables.service smartcam.service smartcam-cmds.service")
    assert enabled.stdout.split() == ["enabled", "enabled", "enabled"], enabled.stderr
    assert run_in(container, "cat /etc/smartcam/channel /etc/smartcam/upload_url").stdout == (
        "devrelease\nhttps://events.example/api\n")

    before = run_in(container, FINGERPRINT).stdout
    second = run_in(container, "/opt/smartcam/host/postinstall", timeout=120)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "done: 0 change(s)" in second.stdout
    assert "running:" not in second.stdout
    assert run_in(container, FINGERPRINT).stdout == before
    assert run_in(container, "cat /etc/smartcam/camera_id").stdout.strip() == camera_id


def test_the_installed_cmds_service_verifies_the_signed_custom_cmds(container):
    # Runs after the set-up above (same container): the service as its unit would start it.
    unit = run_in(container, "cat /etc/systemd/system/smartcam-cmds.service").stdout
    assert unit, "postinstall has not run"
    service = run_in(container, f"""
        set -a; . /etc/smartcam/smartcam.env; set +a
        export PYTHONPATH=/opt/smartcam/common:/opt/smartcam/host/cmds SMARTCAM_HEALTH_FILE=/run/cmds-health.json
        timeout -s TERM 20 {VENV_PYTHON} -m smartcam.cmds & service=$!
        for _ in $(seq 100); do grep -Eqs '"ok": ?true' /var/lib/smartcam/cmds/status.json && break; sleep 0.2; done
        kill -TERM $service; wait $service
        cat /var/lib/smartcam/cmds/status.json""", timeout=60)
    assert service.returncode == 0, service.stderr
    status = json.loads(service.stdout)
    assert status["poll"]["ok"] is True, status
    assert status["source"] == "/opt/smartcam/custom_cmds"
    assert status["file"]["sha256"], status  # the signed file was verified
