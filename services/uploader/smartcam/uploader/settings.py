"""Uploader settings, sized for links as poor as 2G (long timeouts, patient backoff)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from smartcam.common.settings import (
    EVENTS_ENDPOINT_DESCRIPTION,
    CameraSettings,
    ChannelSettings,
    PipelineKeySettings,
    Scope,
    UpdaterStateSettings,
    VersionSettings,
    ZmqEndpoint,
    scope,
)
from smartcam.common.window import Window
from smartcam.uploader.windows import parse_windows

MIN_DAILY_BUDGET_BYTES = 4096  # below this not even one small event fits
MONTH_MAX_S = 31 * 86400.0  # the longest calendar month


class PayloadFormat(StrEnum):
    """How an event is put on the wire; see `payloads`."""

    JSON = "json"
    MULTIPART = "multipart"
    LEGACY = "legacy"


class UploaderSettings(CameraSettings, ChannelSettings, VersionSettings, UpdaterStateSettings, PipelineKeySettings):
    """Variables are SMARTCAM_<FIELD>; scripts/sync-settings writes compose.yaml and the README from these fields."""

    upload_url: str | None = Field(None, description="REST target; when empty: `/etc/smartcam/upload_url`, then "
                                                     "`/etc/esb_url`, then the demo sink (with a warning).")
    demo_sink_url: str = Field("http://demo-sink:8000/events", json_schema_extra=scope(Scope.WIRED),
                               description="Where events go when no target is configured.")
    config_mount: Path = Field(Path("/etc/smartcam"), json_schema_extra=scope(Scope.INTERNAL),
                               description="Where `SMARTCAM_CONFIG_DIR` is mounted (its `upload_url` is read).")
    legacy_url_file: Path = Field(Path("/etc/esb_url"), json_schema_extra=scope(Scope.INTERNAL),
                                  description="The older devices' URL file.")
    events_endpoint: ZmqEndpoint = Field("tcp://*:5556", json_schema_extra=scope(Scope.WIRED),
                                         description=EVENTS_ENDPOINT_DESCRIPTION)
    queue_dir: Path = Field(Path("/var/lib/smartcam/queue"), json_schema_extra=scope(Scope.INTERNAL),
                            description="Durable queue (`queue.db` + `bodies/`), volume `upload-queue`.")
    queue_budget_mb: float = Field(1024.0, gt=0,
                                   description="Disk budget for stored images; over it, queued baseline samples are "
                                               "evicted before detections, oldest first (counted by reason); a full "
                                               "disk refuses new events instead (see Store and forward).")
    connect_timeout_s: float = Field(15.0, gt=0, description="TCP/TLS connect timeout.")
    read_timeout_s: float = Field(60.0, gt=0, description="Wait for the reply (per read; a dripped reply is bounded "
                                                          "by `SMARTCAM_ATTEMPT_DEADLINE_S`).")
    attempt_deadline_s: float = Field(300.0, gt=0,
                                      description="Total time for one upload attempt: connect, send the body, read "
                                                  "the reply; past it the attempt is cut off, counted as failed and "
                                                  "retried (allow for the largest JPEG over the slowest link).")
    stuck_after_attempts: int = Field(20, ge=0,
                                      description="Health fails when the target, while answering, has refused one "
                                                  "queued event this many times; `0` = never.")
    backoff_base_s: float = Field(2.0, gt=0, description="First retry delay ceiling (full jitter, doubling).")
    backoff_cap_s: float = Field(300.0, gt=0, description="Longest retry delay (a server's `Retry-After` is waited "
                                                          "instead, clamped to 1 s - 1 h).")
    upload_rate_bps: int = Field(0, ge=0,
                                 description="Most bytes per second sent on average (request line, headers and body "
                                             "of events and heartbeats, as on the wire), so a backlog after an "
                                             "outage does not fill a thin or metered link; `0` = unlimited.")
    budget_period_s: float = Field(86400.0, gt=0,
                                   description="Length of the budget's \"day\" in seconds, starting at UTC midnight "
                                               "for 86400 (shorter only to test the day boundary).")
    daily_budget_mb: float = Field(0.0, ge=0,
                                   description="Most megabytes sent per day (bytes on the wire); over it events "
                                               "wait for the next day (nothing is dropped) and heartbeats still go; "
                                               "`0` = unlimited.")
    monthly_budget_period_s: float = Field(0.0, ge=0,
                                           description="Length of the monthly budget's \"month\" in seconds; `0` = "
                                                       "UTC calendar months (set only to test the month boundary).")
    monthly_budget_mb: float = Field(0.0, ge=0,
                                     description="Most megabytes sent per UTC calendar month (bytes on the wire), "
                                                 "alongside the daily budget: an event goes only if it fits both; "
                                                 "over it events wait for the next month; `0` = unlimited.")
    upload_windows: str = Field("", description="When each class of event may be sent: `class=cron [for seconds]` "
                                                "entries separated by `;`, the cron expression (UTC) opening the "
                                                "window as in `SMARTCAM_UPDATE_WINDOW`, open 3600 s unless `for` "
                                                "says otherwise; classes: `samples`, `detections`, "
                                                "`camera_health`; a class not named is always sent. E.g. "
                                                "`samples=0 1 * * * for 14400`. Outside its window an event waits "
                                                "(counted as held back); heartbeats always go.")
    max_in_flight: int = Field(1, ge=1, le=16, description="Parallel uploads, 1 to 16.")
    payload_format: PayloadFormat = Field(PayloadFormat.JSON,
                                          description="`json`, `multipart` or `legacy` (see The upload payload).")
    tls_verify: bool = Field(True, description="Verify the server certificate.")
    auth_token_file: Path | None = Field(None, description="File holding a bearer token (`Authorization: Bearer "
                                                           "…`); the settings line shows only its path.")
    auth_header_file: Path | None = Field(None, description="File holding one `Header-Name: value` line; the "
                                                            "settings line shows only its path.")
    heartbeat_url: str = Field("heartbeat",
                               description="Where heartbeats go: an absolute URL, or a path resolved against the "
                                           "upload URL (`heartbeat` = next to it, `/heartbeat` = at its host's root).")
    heartbeat_interval_s: float = Field(600.0, ge=0, description="Seconds between heartbeats (one is also sent at "
                                                                 "start); `0` = none; none go to the demo sink.")
    cmds_mount: Path = Field(Path("/var/lib/smartcam/cmds"), json_schema_extra=scope(Scope.INTERNAL),
                             description="Where `SMARTCAM_CMDS_DIR` is mounted (the heartbeat carries its "
                                         "`status.json`).")
    checkout_mount: Path = Field(Path("/var/lib/smartcam/checkout"), json_schema_extra=scope(Scope.INTERNAL),
                                 description="Where `SMARTCAM_CHECKOUT_DIR` is mounted (the heartbeat carries its "
                                             "`status.json`).")
    pipeline_status_mount: Path = Field(Path("/var/lib/smartcam/pipeline"), json_schema_extra=scope(Scope.INTERNAL),
                                        description="`capture/status.json` and `infer/status.json` (volumes "
                                                    "`capture-status`, `infer-status`, read-only): the heartbeat's "
                                                    "`pipeline` and `gps`.")

    _queue_budget_bytes: int = PrivateAttr()
    _daily_budget_bytes: int = PrivateAttr()
    _monthly_budget_bytes: int = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._queue_budget_bytes = int(self.queue_budget_mb * 1024 * 1024)
        self._daily_budget_bytes = int(self.daily_budget_mb * 1024 * 1024)
        self._monthly_budget_bytes = int(self.monthly_budget_mb * 1024 * 1024)

    @field_validator("auth_token_file", "auth_header_file", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        """Compose passes an unset `${VAR:-}` as an empty string: that means no file, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("backoff_cap_s")
    @classmethod
    def _cap_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base_s")
        if base is not None and value < base:
            raise ValueError(f"the backoff cap is below SMARTCAM_BACKOFF_BASE_S={base}; "
                             "raise the cap or lower the base")
        return value

    @field_validator("daily_budget_mb")
    @classmethod
    def _budget_fits_the_rate(cls, value: float, info: ValidationInfo) -> float:
        rate, period = info.data.get("upload_rate_bps"), info.data.get("budget_period_s")
        if value > 0 and value * 1024 * 1024 < MIN_DAILY_BUDGET_BYTES:
            raise ValueError(f"a daily budget below {MIN_DAILY_BUDGET_BYTES} bytes cannot carry one event; "
                             "raise it, or 0 for no budget")
        if value > 0 and rate and period and rate * period < value * 1024 * 1024:
            raise ValueError(f"SMARTCAM_UPLOAD_RATE_BPS={rate} cannot send that much in a "
                             f"SMARTCAM_BUDGET_PERIOD_S={period:g}; "
                             "raise the rate or lower the budget")
        return value

    @field_validator("monthly_budget_period_s")
    @classmethod
    def _month_not_shorter_than_a_day(cls, value: float, info: ValidationInfo) -> float:
        day = info.data.get("budget_period_s")
        if value and day and value < day:
            raise ValueError(f"a month shorter than SMARTCAM_BUDGET_PERIOD_S={day:g}; lengthen it, "
                             "or 0 for calendar months")
        return value

    @field_validator("monthly_budget_mb")
    @classmethod
    def _monthly_budget_fits(cls, value: float, info: ValidationInfo) -> float:
        if not value:
            return value
        monthly = value * 1024 * 1024
        daily, rate = info.data.get("daily_budget_mb"), info.data.get("upload_rate_bps")
        month = info.data.get("monthly_budget_period_s") or MONTH_MAX_S
        if monthly < MIN_DAILY_BUDGET_BYTES:
            raise ValueError(f"a monthly budget below {MIN_DAILY_BUDGET_BYTES} bytes cannot carry one event; "
                             "raise it, or 0 for no monthly budget")
        if daily and value < daily:
            raise ValueError(f"the monthly budget is below SMARTCAM_DAILY_BUDGET_MB={daily:g}, so the daily one "
                             "could never be spent; raise the monthly budget or lower the daily one")
        if rate and rate * month < monthly:
            raise ValueError(f"SMARTCAM_UPLOAD_RATE_BPS={rate} cannot send that much in the longest month; "
                             "raise the rate or lower the monthly budget")
        return value

    @field_validator("upload_windows")
    @classmethod
    def _windows_open(cls, value: str) -> str:
        parse_windows(value)  # ValueError naming the entry that cannot work
        return value.strip()

    @property
    def windows(self) -> dict[str, Window]:
        """The upload window of each event class that has one (see `SMARTCAM_UPLOAD_WINDOWS`)."""
        return parse_windows(self.upload_windows)

    @property
    def monthly_budget_bytes(self) -> int:
        return self._monthly_budget_bytes

    @property
    def queue_budget_bytes(self) -> int:
        return self._queue_budget_bytes

    @property
    def daily_budget_bytes(self) -> int:
        return self._daily_budget_bytes
