"""Entry point: python -m smartcam.updater

For now the updater only reports which version and channel the device runs, so operators can
see it in the logs and health file; polling and health-gated updates come with the update engine.
"""

import sys
import time

from smartcam.common.service import ServiceContext, run_service
from smartcam.updater.settings import UpdaterSettings


def body(ctx: ServiceContext[UpdaterSettings]) -> None:
    settings = ctx.settings
    last_report = -settings.report_interval_s
    while True:
        if time.monotonic() - last_report >= settings.report_interval_s:
            ctx.logger.info("smartcam %s on channel %s (camera %s)", settings.version, settings.channel,
                            settings.camera_id)
            last_report = time.monotonic()
        ctx.health.working(version=settings.version, channel=settings.channel)
        if ctx.stop.wait(10.0):
            return


if __name__ == "__main__":
    sys.exit(run_service("updater", UpdaterSettings, body))
