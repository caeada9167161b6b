"""The heartbeat the uploader sends to `SMARTCAM_HEARTBEAT_URL`: how the device is, since nobody can log in.

A published contract (`docs/schemas/heartbeat.schema.json`, generated from this model). It nests the
other services' documents as they wrote them: `cmds`, `checkout` and `updates`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smartcam.common.contracts.base import Document
from smartcam.common.contracts.checkout_status import CheckoutStatus
from smartcam.common.contracts.cmds_status import CmdsStatus
from smartcam.common.contracts.history import UpdateRecord
from smartcam.common.contracts.parts import ModelIdentity, Part, SmartcamId, UtcTime
from smartcam.common.contracts.updater_state import PendingUpdate, ServiceVersion


class Uptime(Part):
    uploader: float = Field(description="Seconds since the uploader started.")
    host: float | None = Field(description="Seconds since the device booted; null off Linux.")


class QueueReport(Part):
    queued: int
    queued_bytes: int
    oldest_queued_age_s: float | None
    dead_letter: int
    budget_bytes: int


class DeliveryCounts(Part):
    received: int
    delivered: int
    retried: int
    evicted: dict[str, int] = Field(description="Events given up to stay within the disk budget, by reason.")
    dead_lettered: int
    refused: int
    duplicates: int


class Disk(Part):
    free_bytes: int
    total_bytes: int


class MonthlyBudgetReport(Part):
    limit_bytes: int = Field(description="Bytes on the wire allowed per UTC calendar month.")
    used_bytes: int = Field(description="Bytes on the wire sent this month, heartbeats included.")
    remaining_bytes: int = Field(description="What is left of this month's budget.")
    renews_in_s: float = Field(description="Seconds until the month ends and the budget renews.")


class DataBudgetReport(Part):
    """The daily budget's figures at the top level (as before the monthly one came), the monthly one nested."""

    limit_bytes: int | None = Field(description="Bytes on the wire allowed per period (a UTC day); null = unlimited.")
    used_bytes: int = Field(description="Bytes on the wire sent in the current period, heartbeats included.")
    remaining_bytes: int | None = Field(description="What is left of the period's budget; null = unlimited.")
    held_back: int = Field(description="Events held back: waiting for a budget to renew or for their upload window "
                                       "(the sum of `held_back_by_reason`).")
    renews_in_s: float = Field(description="Seconds until the current period ends and the budget renews.")
    monthly: MonthlyBudgetReport | None = Field(default=None, description="The monthly budget "
                                                "(SMARTCAM_MONTHLY_BUDGET_MB); null when none is set.")
    held_back_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Events held back by reason: `daily_budget`, `monthly_budget` (waiting for "
                                          "it to renew), `window_<class>` (waiting for the upload window of "
                                          "`samples`, `detections` or `camera_health`, SMARTCAM_UPLOAD_WINDOWS).")


class RecentError(Part):
    error: str
    at: float = Field(description="Last seen, seconds since 1970 UTC.")
    count: int


class Throttling(Part):
    """The Raspberry Pi firmware's `get_throttled` bits: `now` flags hold at this moment, `since_boot` ever did."""

    raw: int = Field(description="The firmware's bit field as read (e.g. 0x50005).")
    under_voltage: bool
    frequency_capped: bool
    throttled: bool
    soft_temperature_limit: bool
    under_voltage_since_boot: bool
    frequency_capped_since_boot: bool
    throttled_since_boot: bool
    soft_temperature_limit_since_boot: bool


class ClockState(Part):
    """The kernel's view of the system clock (adjtimex): a Raspberry Pi has no real-time clock."""

    synchronised: bool = Field(description="False while the kernel flags the clock unsynchronised (STA_UNSYNC).")
    source: str | None = Field(description="What disciplines it, as far as the kernel tells: `ntp` (a time daemon "
                                           "steers it), `pps`, or null when unknown.")
    max_error_s: float | None = Field(description="The kernel's maximum error estimate, seconds.")
    gps_offset_s: float | None = Field(default=None, description="GPS time minus the system clock, from the "
                                                                 "newest GPS fix that carried a date and time "
                                                                 "(null without one); within about a second.")


class Platform(Part):
    """The board itself; each field null where the platform does not expose it."""

    soc_temperature_c: float | None = Field(default=None, description="CPU/SoC thermal zone (else the first), °C.")
    thermal_zone: str | None = Field(default=None, description="The thermal zone read, e.g. `cpu-thermal`.")
    throttling: Throttling | None = Field(default=None, description="Raspberry Pi firmware flags, or null.")
    clock: ClockState | None = Field(default=None, description="Clock state, or null where adjtimex is unavailable.")


class Pipeline(Part):
    """The pipeline's figures, from capture's and infer's status documents; null where one is absent.

    A document older than its `stale_after_s` (its service stopped or hangs) is named in `stale`: its
    counters are its last word, its frame rate is null.
    """

    capture_fps: float | None = None
    infer_fps: float | None = None
    frames_dropped: int | None = Field(default=None, description="capture_frames_dropped + infer_frames_dropped: "
                                                                "frames captured and never inferred (null unless "
                                                                "both are known).")
    unacknowledged_events: int | None = Field(default=None, description="Events stored and not yet acknowledged "
                                                                        "by the target.")
    capture_frames_dropped: int | None = Field(default=None, description="Frames capture replaced by a newer one "
                                                                         "before infer asked for them.")
    infer_frames_dropped: int | None = Field(default=None, description="Frames infer received but never inferred "
                                                                       "(superseded in its queue by a newer one).")
    events_sent: int | None = Field(default=None, description="Events infer created since it started.")
    infer_unacknowledged_events: int | None = Field(default=None, description="Events infer holds that the "
                                                                              "uploader has not acknowledged.")
    camera_health: list[str] | None = Field(default=None, description="Camera conditions raised and not cleared "
                                                                      "(infer); null when unknown or off.")
    capture_status_age_s: float | None = Field(default=None, description="Age of capture's status document; null "
                                                                         "without one.")
    infer_status_age_s: float | None = Field(default=None, description="Age of infer's status document; null "
                                                                       "without one.")
    stale: list[str] = Field(default_factory=list, description="Services whose status document is older than "
                                                               "it should be (30 s by default): stopped or stuck.")


class Gps(Part):
    """capture's GPS receiver; null fields where the source does not say or the location is not a GPS."""

    fix_age_s: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    satellites: int | None = None
    fix: bool | None = Field(default=None, description="Whether frames carry a location now; null without a GPS.")
    source: str | None = Field(default=None, description="The GPS (SMARTCAM_LOCATION as capture reads it).")


class Heartbeat(Document):
    type: Literal["heartbeat"] = "heartbeat"
    heartbeat_id: str = Field(description="Unique per heartbeat: hb-<camera_id>-<milliseconds since 1970>.")
    camera_id: SmartcamId
    channel: str
    created_at: UtcTime
    uptime_s: Uptime
    versions: dict[str, ServiceVersion] = Field(description="Per service: image, digest and SMARTCAM_VERSION.")
    model: ModelIdentity | None = Field(description="The model of the latest event (else infer's active model).")
    queue: QueueReport
    counts: DeliveryCounts
    disk: Disk
    data_budget: DataBudgetReport | None = Field(None, description="The upload data budgets "
                                                 "(SMARTCAM_DAILY_BUDGET_MB, SMARTCAM_MONTHLY_BUDGET_MB) and what "
                                                 "is held back by them or by the upload windows.")
    last_errors: list[RecentError] = Field(description="The last few distinct problems, newest last.")
    cmds: CmdsStatus | None = Field(description="The host cmds service's status.json, or null.")
    checkout: CheckoutStatus | None = Field(description="The channel follower's status.json, or null.")
    updates: list[UpdateRecord] | None = Field(description="The updater's history.json records, newest last "
                                                           "(the last 20), or null.")
    problems: list[str] = Field(description="Files above that could not be read, and why.")
    pending_updates: list[PendingUpdate] | None = Field(default=None, description="Updates waiting for the "
                                                        "maintenance window (the updater's state.json), or null.")
    platform: Platform = Field(default_factory=Platform, description="SoC temperature, throttling, clock.")
    pipeline: Pipeline = Field(default_factory=Pipeline, description="Frame rates, drops, unacknowledged events.")
    gps: Gps = Field(default_factory=Gps, description="GPS fix age, speed, heading, satellites.")
