"""Updater settings (SMARTCAM_*)."""

from pathlib import Path

from pydantic import Field, field_validator

from smartcam.common.settings import CommonSettings

MODEL_URL_SCHEMES = ("http://", "https://")


class UpdaterSettings(CommonSettings):
    version: str = "dev"  # SMARTCAM_VERSION, baked into each image at build time
    report_interval_s: float = 300.0

    # Model updates: the channel's remote model manifest; "{channel}" is replaced by SMARTCAM_CHANNEL.
    # Empty turns model updates off.
    model_manifest_url: str = ""
    model_poll_interval_s: float = Field(default=3600.0, ge=1.0, le=7 * 86400.0)
    # Shared with infer: the updater stages verified models here (rw); infer mounts it read-only.
    models_dir: Path = Path("/var/lib/smartcam/models")
    # Written by infer (its verdict on each candidate and its active model); read-only here.
    infer_state_dir: Path = Path("/var/lib/smartcam/infer-state")
    model_download_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    model_max_mb: int = Field(default=256, ge=1, le=16384)  # refuse manifests announcing bigger files
    model_min_free_mb: int = Field(default=64, ge=0)  # disk left free after a download
    # How long infer may take to load and try a candidate before the attempt counts as failed.
    model_verdict_timeout_s: float = Field(default=600.0, ge=10.0, le=86400.0)
    # A rejected publication is tried again after this long (at once if its manifest changes).
    model_retry_rejected_s: float = Field(default=86400.0, ge=0.0)

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
