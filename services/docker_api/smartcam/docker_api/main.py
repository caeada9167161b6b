"""docker-api: the only holder of the Docker socket, offering the updater only what an update needs.

The project whose containers it manages is its own container's compose project (or
SMARTCAM_MANAGED_PROJECT); the registry it pulls from is SMARTCAM_REGISTRY.
"""

from __future__ import annotations

import socket
import threading

from docker.errors import DockerException
from requests.exceptions import RequestException

from smartcam.common.service import FatalError, ServiceContext, run_service
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.scope import PROJECT_LABEL, labels_of
from smartcam.docker_api.server import serve
from smartcam.docker_api.settings import DockerApiSettings


def _own_container(operations: Operations, settings: DockerApiSettings) -> tuple[str, str]:
    """(own container id or "", project): run outside a container (tests), the project must be set."""
    try:
        me = operations.inspect_own(socket.gethostname())
    except (DockerException, RequestException) as error:
        raise FatalError(f"cannot reach Docker at {settings.docker_socket_url} ({error}); mount the Docker socket "
                         "there (SMARTCAM_DOCKER_SOCKET on the host)") from error
    project = settings.managed_project or (labels_of(me).get(PROJECT_LABEL, "") if me else "")
    if not project:
        raise FatalError("no compose project to manage: docker-api runs outside a compose project; set "
                         "SMARTCAM_MANAGED_PROJECT")
    return (str(me["Id"]) if me else ""), project


def body(ctx: ServiceContext[DockerApiSettings]) -> None:
    settings = ctx.settings
    operations = Operations.connect(settings.docker_socket_url, "", settings.registry, "", ctx.logger)
    own_id, operations.project = _own_container(operations, settings)
    operations.own_id = own_id
    server = serve(settings.docker_api_port, operations, ctx.logger, ctx.counters)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    images = f"{settings.registry}smartcam/" if settings.registry else "(none: registry off)"
    ctx.logger.info("docker-api on port %d: containers of project %s, images of %s", settings.docker_api_port,
                    operations.project, images)
    while not ctx.stop.wait(5):
        ctx.health.working()
    server.shutdown()


def main() -> int:
    return run_service("docker_api", DockerApiSettings, body)
