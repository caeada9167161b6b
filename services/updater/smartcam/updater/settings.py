"""Updater settings (SMARTCAM_*): image updates (Docker API, polling, health gate) and model updates."""

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from smartcam.common.polling import DEFAULT_POLL_INTERVALS_S, channel_interval
from smartcam.common.settings import (
    CameraSettings,
    ChannelSettings,
    ModelExchangeSettings,
    RegistrySettings,
    Scope,
    UpdaterStateSettings,
    VersionSettings,
    scope,
)
from smartcam.common.window import Window, WindowError, check_expression
from smartcam.updater.origins import OriginError, origin_of, parse_allowed

MODEL_URL_SCHEMES = ("http://", "https://")


class UpdaterSettings(CameraSettings, ChannelSettings, VersionSettings, UpdaterStateSettings, ModelExchangeSettings,
                      RegistrySettings):
    """Variables are SMARTCAM_<FIELD>; scripts/sync-settings writes compose.yaml and the README from these fields."""

    docker_host: str = Field("http://docker-api:2375", json_schema_extra=scope(Scope.WIRED),
                             description="The `docker-api` service: the only way to Docker, offering only the "
                                         "operations an update needs.")
    release_signers: Path = Field(Path("/etc/smartcam/allowed_signers"), json_schema_extra=scope(Scope.INTERNAL),
                                  description="The keys that may sign images (`smartcam-image`) and model "
                                              "manifests (`smartcam-model`), in ssh-keygen's allowed_signers "
                                              "format; compose mounts `SMARTCAM_HOST_RELEASE_SIGNERS` (installed "
                                              "by host/postinstall) here. Unsigned releases are not applied.")
    update_services: str = Field("infer,uploader,capture",
                                 description="Services updated, in this order; the updater itself always last.")
    poll_interval_master_s: float = Field(DEFAULT_POLL_INTERVALS_S["master"], gt=0,
                                          description="How often a device on `master` checks the registry.")
    poll_interval_devrelease_s: float = Field(DEFAULT_POLL_INTERVALS_S["devrelease"], gt=0,
                                              description="How often a device on `devrelease` checks the registry.")
    poll_interval_release_s: float = Field(DEFAULT_POLL_INTERVALS_S["release"], gt=0,
                                           description="How often a device on `release` checks the registry.")
    poll_interval_s: float | None = Field(None, gt=0, description="Overrides the channel's registry poll interval "
                                                                  "(tests, trials); empty = the channel's.")
    poll_jitter: float = Field(0.1, ge=0, le=0.5, description="± this fraction of the interval, so a fleet does "
                                                              "not poll in step.")
    retry_initial_s: float = Field(30.0, gt=0, description="After a failed poll (registry unreachable) retry after "
                                                           "this, doubling up to the interval.")
    health_timeout_s: float = Field(180.0, gt=0, description="A new container must pass its healthcheck within "
                                                             "this, else it is rolled back.")
    min_free_disk_mb: int = Field(300, ge=0, description="Free space needed beyond the size of the image being "
                                                         "replaced, before pulling.")
    first_poll_delay_s: float = Field(30.0, ge=0, description="First poll after start (lets the stack settle "
                                                              "after boot).")
    model_manifest_url: str = Field("", description="The channel's model manifest; `{channel}` becomes "
                                                    "`SMARTCAM_CHANNEL`; empty = model updates off.")
    model_download_origins: str = Field("", description="Other origins model files may come from (comma-separated "
                                                        "`https://host[:port]`, e.g. a CDN); the manifest's own "
                                                        "origin is always allowed, every other URL and redirect is "
                                                        "refused. The project's services and link-local addresses "
                                                        "cannot be listed.")
    model_poll_interval_s: float = Field(3600.0, ge=1.0, le=7 * 86400.0,
                                         description="How often the manifest is fetched; a model is downloaded only "
                                                     "when its sha256 differs from the one infer serves.")
    model_manifest_timeout_s: float = Field(30.0, gt=0.0, le=600.0,
                                            description="Total time to fetch the manifest (connect to last byte, not "
                                                        "per read); a manifest over 64 kB is rejected unread.")
    model_download_timeout_s: float = Field(900.0, gt=0.0, le=86400.0,
                                            description="Total time for one model download (connect to last byte); "
                                                        "a slower download fails and is retried at the next poll.")
    model_max_mb: int = Field(256, ge=1, le=16384, description="A manifest announcing a bigger file is rejected "
                                                               "without downloading.")
    model_min_free_mb: int = Field(64, ge=0, description="Disk that must stay free after a download; otherwise the "
                                                         "attempt fails and is retried.")
    model_verdict_timeout_s: float = Field(600.0, ge=10.0, le=86400.0,
                                           description="Infer must accept or reject an offered model within this "
                                                       "time, else the attempt counts as failed.")
    model_retry_rejected_s: float = Field(86400.0, ge=0.0,
                                          description="A rejected publication is tried again after this long (at "
                                                      "once when its manifest changes).")
    update_window: str = Field("", description="When updates may start: a cron expression (UTC) for when the "
                                               "maintenance window opens, e.g. `0 2 * * *`; empty = always. A pending "
                                               "update waits in `state.json` (and the heartbeat).")
    update_window_length_s: float = Field(3600.0, ge=60.0, le=7 * 86400.0,
                                          description="How long the maintenance window stays open, seconds.")

    _update_order: tuple[str, ...] = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._update_order = tuple(n for n in self.update_services.split(",") if n)

    @field_validator("update_window")
    @classmethod
    def _window_matches(cls, value: str) -> str:
        try:
            check_expression(value)
        except WindowError as error:
            raise ValueError(str(error)) from None
        return value.strip()

    @property
    def window(self) -> Window:
        return Window(self.update_window, self.update_window_length_s)

    @field_validator("update_services")
    @classmethod
    def _service_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if "updater" in names:
            raise ValueError("list only the other services; the updater updates itself last, after a self-test")
        return ",".join(names)

    @property
    def service_names(self) -> list[str]:
        return list(self._update_order)

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
        if value:
            try:
                origin_of(value.replace("{channel}", "master"))
            except ValueError as error:
                raise ValueError(f"not a usable URL: {error}; use e.g. "
                                 "https://models.example.com/{channel}/manifest.json") from None
        return value

    @field_validator("model_download_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                parse_allowed(entry)
            except OriginError as error:
                raise ValueError(str(error)) from None
        return ",".join(entries)

    @property
    def model_download_origin_list(self) -> list[str]:
        """The allow-listed origins besides the manifest's own (see origins.py)."""
        return [entry for entry in self.model_download_origins.split(",") if entry]

    @property
    def channel_model_manifest_url(self) -> str:
        """The manifest URL for this device's channel ("" when model updates are off)."""
        return self.model_manifest_url.replace("{channel}", self.channel)
