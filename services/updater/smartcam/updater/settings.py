"""Updater settings (SMARTCAM_*): image updates (Docker API, polling, health gate) and model updates."""

from pathlib import Path

from pydantic import Field, field_validator

from smartcam.common.polling import DEFAULT_POLL_INTERVALS_S, channel_interval
from smartcam.common.settings import CommonSettings

MODEL_URL_SCHEMES = ("http://", "https://")


class UpdaterSettings(CommonSettings):
    version: str = "dev"  # SMARTCAM_VERSION, baked into each image at build time
    report_interval_s: float = 300.0
    state_dir: Path = Path("/var/lib/smartcam/updater")
    # Image updates are on only when images come from a registry (compose's SMARTCAM_REGISTRY prefix).
    registry: str = ""
    docker_host: str = "tcp://docker-api:2375"
    # Services updated as containers, in this order; the updater always updates itself last.
    update_services: str = "infer,uploader,capture"
    poll_interval_master_s: float = Field(DEFAULT_POLL_INTERVALS_S["master"], gt=0)
    poll_interval_devrelease_s: float = Field(DEFAULT_POLL_INTERVALS_S["devrelease"], gt=0)
    poll_interval_release_s: float = Field(DEFAULT_POLL_INTERVALS_S["release"], gt=0)
    poll_interval_s: float | None = Field(None, gt=0)  # overrides the channel's interval when set
    poll_jitter: float = Field(0.1, ge=0, le=0.5)  # +- this fraction of the interval, so devices spread out
    retry_initial_s: float = Field(30.0, gt=0)  # first retry after a failed poll; doubles up to the interval
    health_timeout_s: float = Field(180.0, gt=0)  # a new container must be healthy within this
    min_free_disk_mb: int = Field(300, ge=0)  # beyond the size of the image being replaced
    first_poll_delay_s: float = Field(30.0, ge=0)  # lets the stack settle after boot before the first poll

    # Model updates: the channel's remote model manifest; "{channel}" is replaced by SMARTCAM_CHANNEL.
    # Empty turns model updates off.
    model_manifest_url: str = ""
    model_poll_interval_s: float = Field(default=3600.0, ge=1.0, le=7 * 86400.0)
    # Shared with infer: the updater stages verified models here (rw); infer mounts it read-only.
    models_dir: Path = Path("/var/lib/smartcam/models")
    # Written by infer (its verdict on each candidate and its active model); read-only here.
    infer_state_dir: Path = Path("/var/lib/smartcam/infer-state")
    # Total time for fetching the manifest, connect to last byte (not per read: a dripping server is cut off).
    model_manifest_timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)
    # Total time for one model download, connect to last byte; the updater's health is kept fresh meanwhile.
    model_download_timeout_s: float = Field(default=900.0, gt=0.0, le=86400.0)
    model_max_mb: int = Field(default=256, ge=1, le=16384)  # refuse manifests announcing bigger files
    model_min_free_mb: int = Field(default=64, ge=0)  # disk left free after a download
    # How long infer may take to load and try a candidate before the attempt counts as failed.
    model_verdict_timeout_s: float = Field(default=600.0, ge=10.0, le=86400.0)
    # A rejected publication is tried again after this long (at once if its manifest changes).
    model_retry_rejected_s: float = Field(default=86400.0, ge=0.0)


    @field_validator("registry")
    @classmethod
    def _registry_prefix(cls, value: str) -> str:
        if value and not value.endswith("/"):
            raise ValueError(f"{value!r} must end with '/', e.g. 'registry.example.com/' or '127.0.0.1:5000/'")
        return value

    @field_validator("update_services")
    @classmethod
    def _service_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if "updater" in names:
            raise ValueError("list only the other services; the updater updates itself last, after a self-test")
        return ",".join(names)

    @property
    def service_names(self) -> list[str]:
        return [n for n in self.update_services.split(",") if n]

    @property
    def poll_interval(self) -> float:
        """The polling interval of this device's channel (unknown channels poll like master)."""
        return channel_interval(self.channel, {"master": self.poll_interval_master_s,
                                               "devrelease": self.poll_interval_devrelease_s,
                                               "release": self.poll_interval_release_s}, self.poll_interval_s)

    @field_validator("model_manifest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(MODEL_URL_SCHEMES):
            raise ValueError("not an http(s) URL; use e.g. https://models.example.com/{channel}/manifest.json, "
                             "or leave it empty to turn model updates off")
        return value

    @property
    def channel_model_manifest_url(self) -> str:
        """The manifest URL for this device's channel ("" when model updates are off)."""
        return self.model_manifest_url.replace("{channel}", self.channel)
