"""Runs the updater's real model-update step in the real updater container, once a second.

Mounted into the updater container by the model-update tests, so they exercise the step without
depending on the rest of the update engine (image updates need the Docker socket). argv[1] is
the history file.
"""

import sys
from pathlib import Path

from smartcam.common.service import run_service
from smartcam.updater.history import UpdateHistory
from smartcam.updater.models import ModelUpdater
from smartcam.updater.settings import UpdaterSettings


def body(ctx):
    updater = ModelUpdater(ctx.settings, UpdateHistory(Path(sys.argv[1])), ctx.logger, ctx.counters)
    while not ctx.stop.wait(1.0):
        updater.step()
        ctx.health.working()


sys.exit(run_service("updater", UpdaterSettings, body))
