"""Recreate a container with exactly its compose configuration on a new image (as Watchtower does).

`docker inspect` of the running container holds everything compose set (labels, env, mounts,
tmpfs, networks with aliases, healthcheck override, restart policy, security options), mixed with
what came from the old image (its ENV, CMD, HEALTHCHECK, labels). What equals the old image's
value is left out, so the new image's own defaults apply: a new build's version, command or
healthcheck must not be masked by the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMPOSE_IMAGE_LABEL = "com.docker.compose.image"  # compose recreates a container whose image id differs
# Config fields a container inherits from its image unless compose set them.
_INHERITED = ("Cmd", "Entrypoint", "Healthcheck", "WorkingDir", "User", "StopSignal", "ExposedPorts", "Volumes",
              "Shell", "OnBuild")
_RUNTIME_ONLY = ("Hostname", "Image")


@dataclass(frozen=True)
class ContainerSpec:
    """What `POST /containers/create` needs, plus the networks to connect before start (API < 1.44
    accepts only one network at create time)."""

    body: dict[str, Any]
    extra_networks: dict[str, dict[str, Any]]


def clone_spec(container: dict[str, Any], old_image: dict[str, Any], image_ref: str,
               new_image_id: str) -> ContainerSpec:
    """The create request for a copy of `container` (inspect output) running `image_ref`."""
    config = dict(container["Config"])
    image_config = old_image.get("Config") or {}
    short_id = container["Id"][:12]

    image_env = set(image_config.get("Env") or [])
    config["Env"] = [item for item in config.get("Env") or [] if item not in image_env]
    image_labels = image_config.get("Labels") or {}
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v}
    if COMPOSE_IMAGE_LABEL in labels:
        labels[COMPOSE_IMAGE_LABEL] = new_image_id
    config["Labels"] = labels
    for key in _INHERITED:
        if key in config and config[key] == image_config.get(key):
            del config[key]
    for key in _RUNTIME_ONLY:
        config.pop(key, None)
    if container["Config"].get("Hostname") not in (None, "", short_id):
        config["Hostname"] = container["Config"]["Hostname"]  # set on purpose, not docker's default

    host_config = dict(container["HostConfig"])
    primary = host_config.get("NetworkMode") or "default"
    endpoints = {name: _endpoint(settings, short_id)
                 for name, settings in (container["NetworkSettings"].get("Networks") or {}).items()}
    first = {primary: endpoints.pop(primary)} if primary in endpoints else {}
    body = {**config, "Image": image_ref, "HostConfig": host_config, "NetworkingConfig": {"EndpointsConfig": first}}
    return ContainerSpec(body, endpoints)


def _endpoint(settings: dict[str, Any], short_id: str) -> dict[str, Any]:
    """Keep the aliases compose gave (service name, container name), not the old container's id."""
    endpoint: dict[str, Any] = {"Aliases": [a for a in settings.get("Aliases") or [] if a != short_id]}
    for key in ("IPAMConfig", "Links", "DriverOpts"):
        if settings.get(key):
            endpoint[key] = settings[key]
    return endpoint
