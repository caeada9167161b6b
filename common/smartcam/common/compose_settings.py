"""Variables only compose.yaml reads (image builds and host folders it mounts); no service loads this class.

Declared here like every other setting so that scripts/sync-settings can check compose.yaml's
`${SMARTCAM_X:-default}` against one default and document them in the README's table.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcam.common.settings import ENV_PREFIX, Scope, scope


class ComposeSettings(BaseSettings):
    """Read by Docker Compose itself (interpolation), from the environment or `.env`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    base_image: str = Field("debian:bookworm-slim", json_schema_extra=scope(Scope.BUILD),
                            description="Base image of every Dockerfile.")
    config_dir: str = Field("./config",
                             description="Host folder mounted at `/etc/smartcam` in the uploader (`/etc/smartcam` "
                                         "on a device).")
    host_release_signers: str = Field("./host/keys/allowed_signers",
                                      description="Host file mounted read-only in the updater as its "
                                                  "`SMARTCAM_RELEASE_SIGNERS`: the keys that may sign images and "
                                                  "model manifests (postinstall: `/etc/smartcam/allowed_signers`).")
    docker_socket: Path = Field(Path("/var/run/docker.sock"),
                                description="Host Docker socket mounted into `docker-api` (the only container that "
                                            "sees it).")
