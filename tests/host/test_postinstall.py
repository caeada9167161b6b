"""host/postinstall in its --root test mode: real bash, real files, system commands recorded."""

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POSTINSTALL = REPO / "host" / "postinstall"


@pytest.fixture(scope="module")
def online_probe() -> Iterator[str]:
    """A listening loopback socket stands in for the package mirror in the online check."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "root"
    (tree / "etc").mkdir(parents=True)
    shutil.copy("/etc/os-release", tree / "etc" / "os-release")
    (tree / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\toldname\n::1\tlocalhost ip6-localhost\n")
    (tree / "etc" / "fstab").write_text("UUID=1234 / ext4 defaults 0 1\n")
    (tree / "etc" / "nftables.conf").write_text("#!/usr/sbin/nft -f\nflush ruleset\n")
    return tree


def postinstall(root: Path, probe: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    command = [str(POSTINSTALL), f"--root={root}", *args]
    if user:
        command = ["runuser", "-u", user, "--", "bash", *command]
    env = {"PATH": os.environ["PATH"], "SMARTCAM_ONLINE_PROBE": probe}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_help_explains_the_options(root, online_probe):
    result = subprocess.run([str(POSTINSTALL), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for option in ("--branch=CHANNEL", "--upload-url=URL", "--root=DIR", "master (default)"):
        assert option in result.stdout


def test_refuses_to_run_unless_root(root, online_probe):
    before = snapshot(root)
    result = postinstall(root, online_probe, user="nobody")
    assert result.returncode == 1
    assert "must run as root" in result.stderr
    assert snapshot(root) == before


def test_refuses_to_run_offline(root):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    before = snapshot(root)
    result = postinstall(root, f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"offline: cannot reach 127.0.0.1:{port}" in result.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize(("option", "message"), [
    ("--branch=Master;rm", "is not a channel name"),
    ("--upload-url=ftp://x", "is not an http(s) URL"),
    ("--frobnicate", "unknown option"),
])
def test_bad_options_change_nothing(root, online_probe, option, message):
    before = snapshot(root)
    result = postinstall(root, online_probe, option)
    assert result.returncode == 1
    assert message in result.stderr
    assert snapshot(root) == before


def test_first_run_sets_up_the_device(root, online_probe):
    result = postinstall(root, online_probe, "--branch=devrelease", "--upload-url=https://events.example/api")
    assert result.returncode == 0, result.stdout + result.stderr
    camera_id = (root / "etc/smartcam/camera_id").read_text().strip()
    assert re.fullmatch(r"smartcam-[0-9a-f]{8}", camera_id)
    assert (root / "etc/hostname").read_text() == f"{camera_id}\n"
    hosts = (root / "etc/hosts").read_text()
    assert f"127.0.1.1\t{camera_id}\n" in hosts
    assert "oldname" not in hosts
    assert "::1\tlocalhost ip6-localhost" in hosts
    assert (root / "etc/smartcam/channel").read_text() == "devrelease\n"
    assert (root / "etc/smartcam/upload_url").read_text() == "https://events.example/api\n"
    assert (root / "etc/smartcam/custom_cmds.pub").read_bytes() == (REPO / "host/keys/custom_cmds.pub").read_bytes()
    env = (root / "etc/smartcam/smartcam.env").read_text()
    assert f"SMARTCAM_CAMERA_ID={camera_id}\n" in env
    assert "SMARTCAM_CHANNEL=devrelease\n" in env
    assert f"SMARTCAM_CUSTOM_CMDS_SOURCE={REPO}/custom_cmds\n" in env
    assert (root / "etc/nftables.conf").read_bytes() == (REPO / "host/nftables.conf").read_bytes()
    assert (root / "etc/nftables.conf.before-smartcam").read_text().endswith("flush ruleset\n")
    fstab = (root / "etc/fstab").read_text().splitlines()
    assert fstab[0] == "UUID=1234 / ext4 defaults 0 1"
    assert fstab[1].startswith("tmpfs /var/lib/smartcam/scratch tmpfs rw,nosuid,nodev,noexec,size=64m")
    cmds_unit = (root / "etc/systemd/system/smartcam-cmds.service").read_text()
    assert f"Environment=PYTHONPATH={REPO}/common:{REPO}/host/cmds\n" in cmds_unit
    assert "ExecStart=/usr/local/lib/smartcam/venv/bin/python3 -m smartcam.cmds\n" in cmds_unit
    assert f"WorkingDirectory={REPO}\n" in (root / "etc/systemd/system/smartcam.service").read_text()
    recorded = (root / "postinstall.record").read_text().splitlines()
    for command in ("apt-get update -q", "nft -f /etc/nftables.conf", "systemctl enable nftables.service",
                    f"hostnamectl set-hostname {camera_id}", "mount /var/lib/smartcam/scratch",
                    "systemctl enable smartcam.service", "systemctl enable smartcam-cmds.service",
                    "systemctl start smartcam-cmds.service"):
        assert command in recorded
    assert any(line.startswith("apt-get install") and " docker-compose-plugin" in line for line in recorded)
    assert re.search(r"^\[14/14\] start services$", result.stdout, re.MULTILINE)


def test_second_run_changes_nothing_and_keeps_the_camera_id(root, online_probe):
    first = postinstall(root, online_probe, "--upload-url=https://events.example/api")
    assert first.returncode == 0, first.stderr
    before = snapshot(root)
    second = postinstall(root, online_probe)
    assert second.returncode == 0, second.stderr
    assert "done: 0 change(s)" in second.stdout
    assert " + " not in second.stdout
    assert snapshot(root) == before  # includes the record: no system command ran again


def test_a_new_branch_changes_only_the_channel_and_restarts_the_host_services(root, online_probe):
    assert postinstall(root, online_probe).returncode == 0
    camera_id = (root / "etc/smartcam/camera_id").read_text()
    record_before = (root / "postinstall.record").read_text()
    result = postinstall(root, online_probe, "--branch=release")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/smartcam/channel").read_text() == "release\n"
    assert "SMARTCAM_CHANNEL=release\n" in (root / "etc/smartcam/smartcam.env").read_text()
    assert (root / "etc/smartcam/camera_id").read_text() == camera_id
    new_commands = (root / "postinstall.record").read_text().removeprefix(record_before).splitlines()
    assert new_commands == ["systemctl restart smartcam-cmds.service", "systemctl restart smartcam-follow.service"]
    assert "SMARTCAM_CHANNEL=release" in (root / "etc/smartcam/smartcam.env").read_text()
    assert postinstall(root, online_probe).stdout.count(" + ") == 0  # channel kept without --branch


def test_registry_and_repo_make_a_device_that_pulls_images_and_follows_its_channel(root, online_probe):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    result = postinstall(root, online_probe, "--branch=devrelease", "--registry=registry.example.com:5000/",
                         "--repo=https://git.example.com/smartcam.git")
    assert result.returncode == 0, result.stdout + result.stderr
    env = (root / "etc/smartcam/smartcam.env").read_text()
    for line in ("SMARTCAM_REGISTRY=registry.example.com:5000/", "SMARTCAM_REPO_URL=https://git.example.com/smartcam.git",
                 "SMARTCAM_CMDS_DIR=/var/lib/smartcam/cmds", "SMARTCAM_CHECKOUT_DIR=/var/lib/smartcam/checkout",
                 "SMARTCAM_CUSTOM_CMDS_SOURCE=/var/lib/smartcam/deploy/current/custom_cmds", "COMPOSE_PROFILES=",
                 # the updater checks images and model manifests against the same keys as the commits
                 "SMARTCAM_HOST_RELEASE_SIGNERS=/etc/smartcam/allowed_signers"):
        assert f"{line}\n" in env
    # The first tree in force is this checkout's HEAD, exported beside where later commits will go.
    current = root / "var/lib/smartcam/deploy/current"
    assert os.readlink(current) == f"trees/{head}"
    assert (current / ".smartcam-commit").read_text() == f"{head}\n"
    assert (current / "host/postinstall").is_file()
    assert (root / "etc/smartcam/allowed_signers").read_bytes() == (REPO / "host/keys/allowed_signers").read_bytes()
    units = root / "etc/systemd/system"
    assert "WorkingDirectory=/var/lib/smartcam/deploy/current\n" in (units / "smartcam.service").read_text()
    follow = (units / "smartcam-follow.service").read_text()
    assert "Environment=PYTHONPATH=/var/lib/smartcam/deploy/current/common:" in follow
    assert "EnvironmentFile=-/etc/smartcam/local.env\n" in follow
    recorded = (root / "postinstall.record").read_text().splitlines()
    assert "/var/lib/smartcam/deploy/current/host/compose pull" in recorded  # pulled, never built on the device
    assert not any(line.endswith(" build") for line in recorded)
    assert "systemctl enable smartcam-follow.service" in recorded
    again = postinstall(root, online_probe)  # registry and repo kept from the first run
    assert "done: 0 change(s)" in again.stdout, again.stdout


def test_the_operators_local_settings_survive_every_run(root, online_probe):
    assert postinstall(root, online_probe).returncode == 0
    local = root / "etc/smartcam/local.env"
    assert local.is_file()
    local.write_text("SMARTCAM_JPEG_MAX_SIZE=640\n")
    result = postinstall(root, online_probe, "--branch=release", "--upload-url=https://other.example/api")
    assert result.returncode == 0, result.stderr
    assert local.read_text() == "SMARTCAM_JPEG_MAX_SIZE=640\n"
    assert "SMARTCAM_CHANNEL=release\n" in (root / "etc/smartcam/smartcam.env").read_text()


def test_update_host_runs_only_the_steps_a_commit_can_change(root, online_probe):
    assert postinstall(root, online_probe, "--registry=registry.example.com/").returncode == 0
    record_before = (root / "postinstall.record").read_text()
    (root / "etc/systemd/system/smartcam-cmds.service").write_text("stale\n")
    result = postinstall(root, "127.0.0.1:1", "--update-host")  # no online check: the probe is never asked
    assert result.returncode == 0, result.stdout + result.stderr
    steps = re.findall(r"^\[ ?\d+/(\d+)\] (.+)$", result.stdout, re.MULTILINE)
    assert [name.split(" ")[0] for _, name in steps] == ["firewall", "configuration", "Python", "systemd"]
    assert {total for total, _ in steps} == {"4"}
    assert "ExecStart=" in (root / "etc/systemd/system/smartcam-cmds.service").read_text()
    new_commands = (root / "postinstall.record").read_text().removeprefix(record_before).splitlines()
    assert new_commands == ["systemctl daemon-reload"]  # units rewritten; nothing installed, pulled or started


@pytest.mark.parametrize(("option", "message"), [
    ("--registry=registry.example.com", "is not a registry prefix ending in '/'"),
    ("--repo=ftp://x/y.git", "is not a git URL"),
])
def test_bad_registry_or_repo_changes_nothing(root, online_probe, option, message):
    before = snapshot(root)
    result = postinstall(root, online_probe, option)
    assert result.returncode == 1
    assert message in result.stderr
    assert snapshot(root) == before
