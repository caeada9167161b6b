"""capture's and infer's `status.json`: the pipeline's own figures, read by the uploader for the heartbeat.

Each service rewrites its file atomically about once a second (`smartcam.common.status_file`) on a
small tmpfs-backed volume of its own (`capture-status`, `infer-status`), which the uploader mounts
read-only. The health file stays private to each container (its healthcheck reads it); this is the
part meant for others. `written_at` (seconds since 1970, UTC) lets a reader see a stale file, left
by a service that stopped (older than its `stale_after_s`). Counters are running totals since the service started.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smartcam.common.contracts.base import Document
from smartcam.common.contracts.parts import Part

# A writer rewrites its document about once a second while its loop runs; one that waits longer between
# rounds (capture at a low frame rate) says so with a larger `stale_after_s`.
STALE_AFTER_S = 30.0


class GpsStatus(Part):
    """capture's location tracker; a field is null where the GPS source does not say."""

    source: str = Field(description="Where fixes come from, e.g. `gpsd at gpsd:2947`.")
    fix: bool = Field(description="Whether frames carry a location now (a fix within SMARTCAM_LOCATION_MAX_AGE_S "
                                  "that the receiver has not withdrawn).")
    fix_age_s: float | None = Field(description="Seconds since the newest fix arrived (kept through an outage); "
                                                "null when none arrived since capture started.")
    speed_mps: float | None = Field(default=None, description="Speed over ground of the newest fix, m/s.")
    heading_deg: float | None = Field(default=None, description="Course over ground of the newest fix, degrees "
                                                               "from true north.")
    satellites: int | None = Field(default=None, description="Satellites used in the fix, where the source says.")
    gps_clock_offset_s: float | None = Field(
        default=None, description="GPS time minus the system clock, from the newest fix that carried a date "
                                  "and time (within the receiver's reporting delay, typically under a second).")
    gps_time_age_s: float | None = Field(default=None, description="Seconds since that fix arrived.")


class _ServiceStatus(Document):
    written_at: float = Field(description="When this was written, seconds since 1970 UTC.")
    stale_after_s: float = Field(STALE_AFTER_S, gt=0, description="Older than this, the writer has stopped or is "
                                                                  "stuck: readers report the document as stale.")


class CaptureStatus(_ServiceStatus):
    service: Literal["capture"] = "capture"
    fps: float | None = Field(description="Frames captured per second over the last seconds; null before two "
                                          "samples.")
    frames_captured: int
    frames_sent: int = Field(description="Frames delivered to infer.")
    frames_dropped: int = Field(description="Frames replaced by a newer one before infer asked for them.")
    gps: GpsStatus | None = Field(description="Null when SMARTCAM_LOCATION is not a GPS (none or fixed).")


class InferStatus(_ServiceStatus):
    service: Literal["infer"] = "infer"
    fps: float | None = Field(description="Frames inferred per second over the last seconds; null before two "
                                          "samples.")
    frames_inferred: int
    frames_dropped: int = Field(description="Frames infer received but never inferred: superseded in its queue by "
                                            "a newer one, or their ring slot overwritten while it read them "
                                            "(capture counts the ones it never sent).")
    events_sent: int = Field(description="Events created and handed to the uploader.")
    events_unacknowledged: int = Field(description="Events the uploader has not yet acknowledged storing.")
    camera_health: list[str] | None = Field(description="Camera conditions raised and not cleared; null when "
                                                        "camera health is off.")
