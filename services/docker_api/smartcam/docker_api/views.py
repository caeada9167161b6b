"""What the updater is shown of a container or an image: only what an update decides on.

Never a container's environment, mounts or host configuration: those stay on this side of the API.
"""

from __future__ import annotations

from typing import Any

_STATE = ("Running", "Restarting", "ExitCode", "Error", "StartedAt", "Health")


def container_view(container: dict[str, Any]) -> dict[str, Any]:
    """Inspect output cut down to name, image, labels and state (the same keys, so it reads like inspect)."""
    config = container.get("Config") or {}
    state = container.get("State") or {}
    return {"Id": container["Id"], "Name": container["Name"], "Image": container["Image"],
            "RestartCount": container.get("RestartCount", 0),
            "State": {key: state.get(key) for key in _STATE if key in state},
            "Config": {"Image": config.get("Image"), "Labels": config.get("Labels") or {},
                       "StopTimeout": config.get("StopTimeout"), "Hostname": config.get("Hostname")}}


def image_view(image: dict[str, Any]) -> dict[str, Any]:
    config = image.get("Config") or {}
    return {"Id": image["Id"], "RepoTags": image.get("RepoTags") or [], "RepoDigests": image.get("RepoDigests") or [],
            "Size": image.get("Size", 0),
            "Config": {"Env": config.get("Env") or [], "Labels": config.get("Labels") or {}}}
