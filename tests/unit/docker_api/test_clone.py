"""Cloning a container's compose configuration onto a new image: keep what compose set, drop what came
from the old image (so the new image's ENV, CMD and HEALTHCHECK apply), one network at create time."""

from smartcam.docker_api.clone import clone_spec
from smartcam.updater.images import repo_digest, split_ref

OLD_IMAGE = {"Config": {
    "Env": ["PATH=/opt/venv/bin:/usr/bin", "SMARTCAM_VERSION=old"],
    "Cmd": ["python", "-m", "smartcam.infer"],
    "Healthcheck": {"Test": ["CMD", "python", "-m", "smartcam.common.health"], "Interval": 10_000_000_000},
    "Labels": {"org.example.build": "1"},
    "User": "10001:10001",
    "WorkingDir": "",
}}

CONTAINER = {
    "Id": "abcdef0123456789" + "0" * 48,
    "Name": "/smartcam-infer-1",
    "Config": {
        "Hostname": "abcdef012345",
        "Image": "127.0.0.1:5000/smartcam/infer:master",
        "Env": ["SMARTCAM_CHANNEL=master", "PATH=/opt/venv/bin:/usr/bin", "SMARTCAM_VERSION=old"],
        "Cmd": ["python", "-m", "smartcam.infer"],
        "Healthcheck": OLD_IMAGE["Config"]["Healthcheck"],
        "Labels": {"com.docker.compose.project": "smartcam", "com.docker.compose.service": "infer",
                   "com.docker.compose.image": "sha256:old", "org.example.build": "1"},
        "User": "10001:10001",
        "WorkingDir": "",
        "StopTimeout": 10,
    },
    "HostConfig": {"NetworkMode": "smartcam_pipeline", "ReadonlyRootfs": True, "CapDrop": ["ALL"],
                   "Tmpfs": {"/run/smartcam": "size=1m"}, "RestartPolicy": {"Name": "unless-stopped"}},
    "NetworkSettings": {"Networks": {
        "smartcam_pipeline": {"Aliases": ["smartcam-infer-1", "infer", "abcdef012345"], "IPAMConfig": None,
                              "NetworkID": "n1", "IPAddress": "172.18.0.3"},
        "smartcam_egress": {"Aliases": ["infer", "abcdef012345"], "IPAMConfig": {"IPv4Address": "172.19.0.9"}},
    }},
}


def test_compose_settings_stay_and_image_defaults_are_left_to_the_new_image():
    spec = clone_spec(CONTAINER, OLD_IMAGE, "127.0.0.1:5000/smartcam/infer:master", "sha256:new")
    body = spec.body
    assert body["Image"] == "127.0.0.1:5000/smartcam/infer:master"
    assert body["Env"] == ["SMARTCAM_CHANNEL=master"]  # the new image brings its own PATH and version
    assert "Cmd" not in body
    assert "Healthcheck" not in body  # a new release's healthcheck is what gates it
    assert "User" not in body
    assert "Hostname" not in body  # docker's default (the old id) would name the new container wrongly
    assert body["StopTimeout"] == 10
    assert body["Labels"] == {"com.docker.compose.project": "smartcam", "com.docker.compose.service": "infer",
                              "com.docker.compose.image": "sha256:new"}
    assert body["HostConfig"] == CONTAINER["HostConfig"]


def test_overrides_set_by_compose_are_kept():
    container = {**CONTAINER, "Config": {**CONTAINER["Config"], "Cmd": ["python", "-m", "smartcam.infer", "-v"],
                                         "Healthcheck": {"Test": ["NONE"]}, "Hostname": "camera-7"}}
    body = clone_spec(container, OLD_IMAGE, "r/smartcam/infer:master", "sha256:new").body
    assert body["Cmd"] == ["python", "-m", "smartcam.infer", "-v"]
    assert body["Healthcheck"] == {"Test": ["NONE"]}
    assert body["Hostname"] == "camera-7"


def test_the_primary_network_is_created_with_the_container_and_the_rest_connected_after():
    spec = clone_spec(CONTAINER, OLD_IMAGE, "r/smartcam/infer:master", "sha256:new")
    assert spec.body["NetworkingConfig"] == {"EndpointsConfig": {"smartcam_pipeline": {
        "Aliases": ["smartcam-infer-1", "infer"]}}}
    assert spec.extra_networks == {"smartcam_egress": {"Aliases": ["infer"],
                                                       "IPAMConfig": {"IPv4Address": "172.19.0.9"}}}


def test_image_references():
    assert split_ref("127.0.0.1:5000/smartcam/infer:master") == ("127.0.0.1:5000/smartcam/infer", "master")
    assert split_ref("127.0.0.1:5000/smartcam/infer") == ("127.0.0.1:5000/smartcam/infer", "latest")
    image = {"RepoDigests": ["other/smartcam/infer@sha256:a", "127.0.0.1:5000/smartcam/infer@sha256:b"]}
    assert repo_digest(image, "127.0.0.1:5000/smartcam/infer") == "sha256:b"
    assert repo_digest(image, "smartcam/infer") is None
