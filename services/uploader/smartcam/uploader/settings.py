"""Uploader settings, sized for links as poor as 2G (long timeouts, patient backoff)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from smartcam.common.settings import CommonSettings


class PayloadFormat(StrEnum):
    """How an event is put on the wire; see `payloads`."""

    JSON = "json"
    MULTIPART = "multipart"
    LEGACY = "legacy"


class UploaderSettings(CommonSettings):
    """Variables are SMARTCAM_<FIELD>; the README's settings table mirrors these fields."""

    upload_url: str | None = None
    demo_sink_url: str = "http://demo-sink:8000/events"
    config_dir: Path = Path("/etc/smartcam")
    legacy_url_file: Path = Path("/etc/esb_url")
    events_endpoint: str = "tcp://*:5556"
    queue_dir: Path = Path("/var/lib/smartcam/queue")
    queue_budget_mb: float = Field(default=1024.0, gt=0)
    connect_timeout_s: float = Field(default=15.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    # Total time for one upload (connect, send, whole reply); socket timeouts only bound each read.
    attempt_deadline_s: float = Field(default=300.0, gt=0)
    # Health fails when the target has refused one event this often (any non-2xx answer); 0 = never.
    stuck_after_attempts: int = Field(default=20, ge=0)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=300.0, gt=0)
    max_in_flight: int = Field(default=1, ge=1, le=16)
    payload_format: PayloadFormat = PayloadFormat.JSON
    tls_verify: bool = True
    auth_token_file: Path | None = None
    auth_header_file: Path | None = None
    # Heartbeat: an absolute URL, or a path resolved against the upload URL ("heartbeat" next to it,
    # "/heartbeat" at its host's root). Interval 0 turns it off.
    heartbeat_url: str = "heartbeat"
    heartbeat_interval_s: float = Field(default=600.0, ge=0)
    cmds_status_file: Path = Path("/var/lib/smartcam/cmds/status.json")  # written by the host cmds service
    updater_dir: Path = Path("/var/lib/smartcam/updater")  # the updater's state.json and history.json
    checkout_dir: Path = Path("/var/lib/smartcam/checkout")  # the host's channel follower: status.json
    version: str = "dev"  # SMARTCAM_VERSION, baked into the image

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

    @property
    def queue_budget_bytes(self) -> int:
        return int(self.queue_budget_mb * 1024 * 1024)
