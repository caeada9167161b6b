"""The demo sink: an HTTP server saving what the uploader sends, healthy while it can accept."""

from __future__ import annotations

import threading

from smartcam.common.service import ServiceContext, run_service
from smartcam.demo_sink.server import EventStore, serve
from smartcam.demo_sink.settings import DemoSinkSettings


def body(ctx: ServiceContext[DemoSinkSettings]) -> None:
    store = EventStore(ctx.settings.demo_sink_dir, ctx.logger)
    server = serve(ctx.settings.demo_sink_port, store, ctx.health, ctx.logger)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    ctx.logger.info("demo sink listening on port %d, saving events to %s", ctx.settings.demo_sink_port, store.folder)
    # The sink's work is answering requests; between them, being able to accept is the health signal.
    while not ctx.stop.wait(5):
        ctx.health.working()
    server.shutdown()


def main() -> int:
    return run_service("demo_sink", DemoSinkSettings, body)
