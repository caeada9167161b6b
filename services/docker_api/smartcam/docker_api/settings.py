"""docker-api settings (SMARTCAM_*): which project and registry the updater may act on."""

from pydantic import Field

from smartcam.common.settings import RegistrySettings, Scope, scope


class DockerApiSettings(RegistrySettings):
    """Variables are SMARTCAM_<FIELD>; scripts/sync-settings writes compose.yaml and the README from these fields."""

    docker_api_port: int = Field(2375, ge=1, le=65535, json_schema_extra=scope(Scope.WIRED),
                                 description="Port docker-api listens on, on the internal `docker-api` network "
                                             "(`SMARTCAM_DOCKER_HOST` points at it).")
    docker_socket_url: str = Field("unix:///var/run/docker.sock", json_schema_extra=scope(Scope.INTERNAL),
                                   description="The Docker daemon's socket (mounted from `SMARTCAM_DOCKER_SOCKET`).")
    managed_project: str = Field("", json_schema_extra=scope(Scope.INTERNAL),
                                 description="The compose project whose containers may be managed; empty = the "
                                             "project of docker-api's own container (its compose label).")
