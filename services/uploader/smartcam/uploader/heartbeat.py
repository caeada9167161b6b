"""The heartbeat: the device tells its owners how it is, since nobody can log into it.

Every `heartbeat_interval_s` a status document is built and stored in the queue's outbox,
replacing any heartbeat not yet sent (only the newest is worth sending). It travels the same
way as events (same session, backoff and target host) but never crowds them out: it is sent
when no event waits, or, on a backlog, once it has waited a full interval, and never twice in a
row while events wait. It is outside the event ledger and the disk budget (a few kB).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcam.common.contracts.heartbeat import (
    DataBudgetReport,
    DeliveryCounts,
    Disk,
    MonthlyBudgetReport,
    QueueReport,
    RecentError,
    Uptime,
)
from smartcam.common.contracts.heartbeat import (
    Heartbeat as HeartbeatDocument,
)
from smartcam.common.contracts.parts import ModelIdentity
from smartcam.common.contracts.updater_state import ServiceVersion
from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.wire import format_time
from smartcam.uploader.board import BoardReader
from smartcam.uploader.data_budget import DataBudget
from smartcam.uploader.host_files import read_host_facts
from smartcam.uploader.outbox import OutboxMessage
from smartcam.uploader.pipeline_files import read_pipeline_facts
from smartcam.uploader.queue import LAST_MODEL_FACT, EventQueue
from smartcam.uploader.recent import RecentErrors
from smartcam.uploader.settings import UploaderSettings
from smartcam.uploader.windows import UploadWindows

KIND = "heartbeat"
HOST_UPTIME_FILE = Path("/proc/uptime")


class Heartbeat:
    """Builds heartbeats when due and decides when the stored one may be sent."""

    def __init__(self, settings: UploaderSettings, queue: EventQueue, errors: RecentErrors, logger: logging.Logger,
                 counters: Counters, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, board: BoardReader | None = None,
                 budget: DataBudget | None = None, windows: UploadWindows | None = None) -> None:
        self._settings = settings
        self._queue = queue
        self._budget = budget or DataBudget.for_settings(settings, queue)  # pass the deliverer's: it knows what is held
        self._windows = windows or UploadWindows(settings.windows)  # the deliverer's (tests set its clock)
        self._errors = errors
        self._clock = clock
        self._monotonic = monotonic
        self._started = monotonic()
        self._next_due = self._started  # the first one right away: a restart is news
        self._trouble = OncePerKind(logger, counters, "heartbeat")
        self._last_was_heartbeat = False
        self._board = board or BoardReader(self._trouble)

    @property
    def interval_s(self) -> float:
        return self._settings.heartbeat_interval_s

    def store_if_due(self) -> None:
        if self._monotonic() < self._next_due:
            return
        self._next_due = self._monotonic() + self.interval_s
        document = self.build()
        try:
            self._queue.put_message(KIND, document["heartbeat_id"], document)
        except (sqlite3.Error, OSError) as error:
            self._trouble.report("store", f"cannot store a heartbeat ({error}); trying again in "
                                          f"{self.interval_s:g}s")

    def ready(self, events_waiting: bool) -> OutboxMessage | None:
        """The heartbeat to send now, if any (see the module docstring for when)."""
        message = self._queue.pending_message(KIND)
        if message is None:
            return None
        overdue = self._clock() - message.created_at >= self.interval_s
        send = not events_waiting or (overdue and not self._last_was_heartbeat)
        self._last_was_heartbeat = send
        return message if send else None

    def build(self) -> dict[str, Any]:
        """The heartbeat document (`smartcam.common.contracts.heartbeat.Heartbeat`) as JSON-ready data."""
        now = self._clock()
        settings = self._settings
        figures = self._queue.figures()
        host = read_host_facts(settings.cmds_mount / "status.json", settings.updater_dir, settings.checkout_mount)
        uploader = dataclasses.replace(host.services.get("uploader", ServiceVersion()), version=settings.version)
        last_model = self._queue.fact(LAST_MODEL_FACT)
        disk = shutil.disk_usage(settings.queue_dir)
        pipeline = read_pipeline_facts(settings.pipeline_status_mount, now, figures.queued, self._trouble)
        platform = self._board.read()
        if platform.clock is not None and pipeline.gps_offset_s is not None:
            platform = platform.model_copy(update={
                "clock": platform.clock.model_copy(update={"gps_offset_s": pipeline.gps_offset_s})})
        heartbeat = HeartbeatDocument(
            heartbeat_id=f"hb-{settings.camera_id}-{int(now * 1000)}",
            camera_id=settings.camera_id,
            channel=settings.channel,
            created_at=format_time(datetime.fromtimestamp(now, UTC)),
            uptime_s=Uptime(uploader=round(self._monotonic() - self._started, 1), host=host_uptime_s()),
            versions={**host.services, "uploader": uploader},
            model=ModelIdentity.model_validate_json(last_model) if last_model else host.model,
            queue=QueueReport(queued=figures.queued, queued_bytes=figures.queued_bytes,
                              oldest_queued_age_s=figures.oldest_queued_age_s, dead_letter=figures.dead_letter,
                              budget_bytes=settings.queue_budget_bytes),
            counts=DeliveryCounts(received=figures.received, delivered=figures.delivered,
                                  retried=figures.retried + self._queue.retries_pending(),
                                  evicted=figures.evicted, dead_lettered=figures.dead_letter,
                                  refused=figures.refused, duplicates=figures.duplicates),
            disk=Disk(free_bytes=disk.free, total_bytes=disk.total),
            data_budget=self._budget_report(),
            last_errors=[RecentError.model_validate(entry) for entry in self._errors.snapshot()],
            cmds=host.cmds,
            checkout=host.checkout,
            updates=host.updates,
            problems=host.problems + pipeline.problems,
            pending_updates=host.pending,
            platform=platform,
            pipeline=pipeline.pipeline,
            gps=pipeline.gps,
        )
        return heartbeat.model_dump(mode="json")

    def _budget_report(self) -> DataBudgetReport:
        budget = self._budget
        used = budget.spent()
        limit = budget.daily.limit_bytes if budget.daily.limited else None
        monthly = None
        if budget.monthly is not None:
            spent, renewal_s = budget.spent_this_month() or 0, budget.seconds_to_monthly_renewal() or 0.0
            monthly = MonthlyBudgetReport(limit_bytes=budget.monthly.limit_bytes, used_bytes=spent,
                                          remaining_bytes=max(0, budget.monthly.limit_bytes - spent),
                                          renews_in_s=round(renewal_s, 1))
        held = held_back(self._queue.queued_by_class(), self._windows.closed_now(), budget.held_reason())
        return DataBudgetReport(limit_bytes=limit, used_bytes=used,
                                remaining_bytes=None if limit is None else max(0, limit - used),
                                held_back=sum(held.values()), renews_in_s=round(budget.seconds_to_renewal(), 1),
                                monthly=monthly, held_back_by_reason=held)


def held_back(queued: dict[str, int], closed: frozenset[str], budget_reason: str | None) -> dict[str, int]:
    """Queued events held back, by reason: those outside their upload window by class, the rest by the budget
    that is spent (if one is: then nothing else goes either)."""
    held = {f"window_{name}": count for name, count in sorted(queued.items()) if name in closed and count}
    rest = sum(count for name, count in queued.items() if name not in closed)
    if budget_reason is not None and rest:
        held[budget_reason] = rest
    return held


def host_uptime_s() -> float | None:
    """Seconds since the device booted (containers share the host's kernel), or None off Linux."""
    try:
        return round(float(HOST_UPTIME_FILE.read_text().split()[0]), 1)
    except (OSError, ValueError, IndexError):
        return None
