"""Smoke test of the virtual lab (tests/lab/harness.py): the device boots systemd and its own Docker
Engine, pulls from the lab registry, clones from the lab git server, posts to the lab target, and comes
back after a reboot."""

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.lab.harness import BASE_IMAGE, docker

pytestmark = pytest.mark.integration


def test_the_device_boots_systemd_and_its_own_docker_engine(lab_device):
    assert lab_device.exec("systemctl is-system-running").stdout.strip() in ("running", "degraded")
    assert lab_device.exec("readlink /proc/1/exe").stdout.strip().endswith("systemd")
    assert lab_device.exec("systemctl is-active docker.service").stdout.strip() == "active"
    info = lab_device.exec("docker info --format '{{.Driver}} {{json .RegistryConfig.IndexConfigs}}'", check=True)
    assert info.stdout.startswith("fuse-overlayfs ")
    assert "lab-registry:5000" in info.stdout
    assert "Docker Compose version v2" in lab_device.exec("docker compose version").stdout
    # The name Docker gave it, or the one a scenario test set with hostnamectl (the device is shared).
    assert lab_device.exec("hostname").stdout == lab_device.exec("cat /etc/hostname").stdout
    assert lab_device.exec("findmnt -n /etc/hostname").returncode == 1  # lab-boot dropped Docker's bind mount


def test_an_image_pushed_from_the_host_runs_in_the_device(lab_services, lab_device):
    tag = f"smartcam/lab-smoke:{uuid.uuid4().hex[:8]}"
    pushed = lab_services.registry_push_prefix + tag
    docker("tag", BASE_IMAGE, pushed)
    try:
        docker("push", pushed, timeout=300)
    finally:
        docker("rmi", pushed, check=False)
    ref = lab_services.device_registry_prefix + tag
    pulled = lab_device.exec(f"docker pull -q {ref}", timeout=300, check=True)
    assert ref in pulled.stdout
    # On the inner engine's own network, with its DNS: the inner container resolves the lab services too.
    ran = lab_device.exec(f"docker network create smoke >/dev/null && docker run --rm --network smoke {ref} "
                          "sh -c 'cat /etc/debian_version && getent hosts lab-registry >/dev/null && echo dns-ok'; "
                          "status=$?; docker network rm smoke >/dev/null; exit $status", timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split()[1] == "dns-ok"


def test_a_commit_pushed_from_the_host_is_cloned_in_the_device(lab_services, lab_device, tmp_path: Path):
    url = lab_services.create_git_repo("smoke")
    work = tmp_path / "work"
    git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@example.invalid", "-C", str(work)]
    subprocess.run(["git", "init", "-q", "-b", "devrelease", str(work)], check=True)
    (work / "marker").write_text("from the host\n")
    subprocess.run([*git, "add", "marker"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "smoke"], check=True)
    subprocess.run([*git, "push", "-q", url, "devrelease"], check=True, timeout=60)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    source = lab_services.git_url_for_device("smoke")
    cloned = lab_device.exec(f"rm -rf /tmp/smoke && git clone -q -b devrelease {source} /tmp/smoke"
                             " && git -C /tmp/smoke rev-parse HEAD && cat /tmp/smoke/marker", timeout=60)
    assert cloned.returncode == 0, cloned.stderr
    assert cloned.stdout.split("\n")[:2] == [head, "from the host"]


def test_the_git_server_can_be_unreachable_and_back(lab_services, lab_device):
    lab_services.create_git_repo("outage")
    lab_services.stop_git()
    try:
        down = lab_device.exec(f"timeout 20 git ls-remote {lab_services.git_url_for_device('outage')}", timeout=30)
        assert down.returncode != 0
    finally:
        lab_services.start_git()
    assert lab_device.exec(f"git ls-remote {lab_services.git_url_for_device('outage')}", timeout=30).returncode == 0


def test_a_post_from_the_device_is_recorded_across_a_target_restart(lab_services, lab_device):
    # Paths of its own: a provisioned device on the same target posts events and heartbeats meanwhile.
    smoke = lab_services.target_url_for_device.replace("/events", "/smoke")
    post = f"curl -fsS -X POST -H 'Content-Type: application/json' --data-binary @- {smoke}"
    assert lab_device.exec(post, input='{"n": 1}', check=True).returncode == 0
    lab_services.stop_target()
    assert lab_device.exec(post.replace("curl", "curl --max-time 5"), input='{"n": 2}').returncode != 0
    lab_services.start_target()
    lab_device.exec(f"curl -fsS -X POST --data-binary @- {smoke}-again", input='{"n": 3}', check=True)

    records = [r for r in lab_services.records() if r.path.startswith("/smoke")]
    assert [(r.path, r.json()) for r in records] == [("/smoke", {"n": 1}), ("/smoke-again", {"n": 3})]
    assert records[0].headers["Content-Type"] == "application/json"


def test_after_a_reboot_systemd_docker_and_a_restartable_container_are_back(lab_device):
    # Any image in the inner engine will do: the one the pull test left, or the host's base image.
    image = lab_device.exec("docker image ls --format '{{.Repository}}:{{.Tag}}' | head -n1").stdout.strip()
    if not image:
        lab_device.load_image(BASE_IMAGE)
        image = BASE_IMAGE
    lab_device.exec(f"docker run -d --init --name sleeper --restart unless-stopped {image} sleep infinity", check=True)
    lab_device.exec("touch /run/gone-after-reboot", check=True)
    hostname = lab_device.exec("hostname").stdout

    lab_device.restart()

    assert lab_device.exec("test -e /run/gone-after-reboot").returncode == 1  # a fresh boot: /run is new
    assert lab_device.exec("systemctl is-system-running").stdout.strip() in ("running", "degraded")
    assert lab_device.exec("docker inspect -f '{{.State.Running}}' sleeper").stdout.strip() == "true"
    assert lab_device.exec("hostname").stdout == hostname
    lab_device.exec("docker rm -f sleeper", check=True)
