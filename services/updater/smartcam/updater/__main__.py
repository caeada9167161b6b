"""Entry point: python -m smartcam.updater [--self-test]

Polls the registry on the device's channel and updates the stack's containers, each gated on its
own healthcheck (see engine.py). `--self-test` is what a running updater executes in a throwaway
container of a new updater image before handing over to it.
"""

from __future__ import annotations

import sys
import time

from smartcam.common.service import ServiceContext, run_service
from smartcam.common.settings import SettingsError, load_settings
from smartcam.updater.containers import connect
from smartcam.updater.engine import Engine, state_dir_ready
from smartcam.updater.schedule import PollSchedule
from smartcam.updater.settings import UpdaterSettings

HEARTBEAT_S = 5.0  # the health file must stay fresh while the updater waits hours between polls


def body(ctx: ServiceContext[UpdaterSettings]) -> None:
    settings = ctx.settings

    def heartbeat() -> None:
        ctx.health.working(version=settings.version, channel=settings.channel)

    heartbeat()
    if not settings.registry:
        ctx.logger.info("smartcam %s on channel %s: image updates off (SMARTCAM_REGISTRY is empty, images are "
                        "built locally)", settings.version, settings.channel)
        while not ctx.stop.wait(HEARTBEAT_S):
            heartbeat()
        return
    state_dir_ready(settings.state_dir)
    engine = Engine(connect(settings.docker_host), settings, ctx.logger, ctx.counters, heartbeat)
    schedule = PollSchedule(settings.poll_interval, settings.poll_jitter, settings.retry_initial_s)
    ctx.logger.info("smartcam %s on channel %s: polling %s every %.0fs (project %s)", settings.version,
                    settings.channel, settings.registry, settings.poll_interval, engine.project)
    next_poll = time.monotonic() + settings.first_poll_delay_s
    while not ctx.stop.is_set():
        heartbeat()
        if time.monotonic() >= next_poll:
            reached = engine.poll_once()
            ctx.counters.inc("polls.ok" if reached else "polls.failed")
            next_poll = time.monotonic() + (schedule.succeeded() if reached else schedule.failed())
        ctx.stop.wait(max(0.0, min(HEARTBEAT_S, next_poll - time.monotonic())))


def self_test() -> int:
    """Can this image run the updater? Settings load, every module imports, the Docker SDK is present."""
    try:
        load_settings(UpdaterSettings)
    except SettingsError as error:
        print(f"self-test failed: {error}")
        return 1
    import smartcam.updater.engine  # noqa: F401, PLC0415  (imports the whole update path)

    print("self-test ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(run_service("updater", UpdaterSettings, body))
