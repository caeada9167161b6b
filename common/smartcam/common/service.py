"""The common main(): settings, logging, health, signals, and a clear exit for fatal errors.

A service that cannot work (bad setting, missing model, empty photo folder) raises
`FatalError` or `SettingsError`; this module logs the one-line reason, writes it to the
health file and exits non-zero so Compose restarts the container.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Generic

from smartcam.common.counters import Counters
from smartcam.common.health import HealthReporter
from smartcam.common.logs import setup_logging
from smartcam.common.settings import CommonSettings, SettingsError, SettingsT, early_value, load_settings

EXIT_FATAL = 2
# After a fatal error the service stays up this long (SMARTCAM_FATAL_HOLD_S), reporting the reason through its
# healthcheck, before it exits for Compose to restart it (this also slows down a crash loop).
DEFAULT_FATAL_HOLD_S = float(CommonSettings.model_fields["fatal_hold_s"].default)


class FatalError(Exception):
    """The service cannot do its work; the message names the thing and the fix."""


@dataclass
class ServiceContext(Generic[SettingsT]):
    """What every service body receives."""

    settings: SettingsT
    logger: logging.Logger
    health: HealthReporter
    counters: Counters
    stop: threading.Event


def run_service(
    name: str,
    settings_class: type[SettingsT],
    body: Callable[[ServiceContext[SettingsT]], None],
) -> int:
    """Run `body` until it returns or SIGTERM/SIGINT arrives; return the process exit code."""
    logger = setup_logging(name, early_value("log_level"))
    health_path = Path(early_value("health_file"))
    counters = Counters()
    health = HealthReporter(health_path, name, counters)
    stop = threading.Event()
    # Set only by a signal: the body sets `stop` itself when it winds down, which must not cut the hold short.
    signalled = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        signalled.set()
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        settings = load_settings(settings_class)
        logger.setLevel(settings.log_level)
        logger.info("settings %s", settings.log_line())
        body(ServiceContext(settings, logger, health, counters, stop))
    except (SettingsError, FatalError) as error:
        logger.error("cannot run: %s", error)
        health.failing(str(error))
        _hold(signalled, _fatal_hold_s(logger))
        return EXIT_FATAL
    return 0


def _hold(signalled: threading.Event, seconds: float) -> None:
    """Stay up `seconds` so the healthcheck can report the reason, unless SIGTERM/SIGINT asks to stop now."""
    deadline = time.monotonic() + seconds
    while not signalled.is_set() and (remaining := deadline - time.monotonic()) > 0:
        signalled.wait(min(remaining, 1.0))  # short waits: the main thread runs signal handlers between them


def _fatal_hold_s(logger: logging.Logger) -> float:
    """SMARTCAM_FATAL_HOLD_S, read directly: the settings themselves may be what is broken."""
    text = early_value("fatal_hold_s")
    try:
        return max(0.0, float(text)) if text.strip() else DEFAULT_FATAL_HOLD_S
    except ValueError:
        logger.warning("SMARTCAM_FATAL_HOLD_S=%r is not a number of seconds; using %.0f", text, DEFAULT_FATAL_HOLD_S)
        return DEFAULT_FATAL_HOLD_S
