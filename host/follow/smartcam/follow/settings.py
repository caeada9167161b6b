"""Settings of the channel follower (SMARTCAM_* variables, from the channel's and the device's env files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from smartcam.common.polling import DEFAULT_POLL_INTERVALS_S, channel_interval
from smartcam.common.settings import ChannelSettings, Scope, scope

GIT_URL_SCHEMES = ("https://", "http://", "git://", "ssh://", "file://", "/")


class FollowSettings(ChannelSettings):
    """Where the channel comes from, which keys may sign it, and how a new commit is applied."""

    repo_url: str = Field("", description="The repository whose branch `SMARTCAM_CHANNEL` the device follows; "
                                       "empty turns following off.")
    checkout_dir: Path = Field(Path("/var/lib/smartcam/checkout"),
                               description="Host folder of the channel follower's state, history and `status.json`; "
                                           "mounted read-only in the uploader, whose heartbeat carries the status.")
    deploy_dir: Path = Field(Path("/var/lib/smartcam/deploy"),
                             description="The fetched repository, one folder per deployed commit, and the `current` "
                                         "link the units point at.")
    allowed_signers: Path = Field(Path("/etc/smartcam/allowed_signers"),
                                  description="OpenSSH allowed-signers file: who may sign the channel's commits.")
    host_config_dir: Path = Field(Path("/etc/smartcam"),
                                  description="The device's configuration folder (`smartcam.env`, `local.env`), "
                                              "given to the stack's compose command.")
    checkout_poll_interval_master_s: float = Field(DEFAULT_POLL_INTERVALS_S["master"], gt=0,
                                                   description="How often a device on `master` fetches its branch.")
    checkout_poll_interval_devrelease_s: float = Field(DEFAULT_POLL_INTERVALS_S["devrelease"], gt=0,
                                                       description="How often a device on `devrelease` fetches its "
                                                                   "branch.")
    checkout_poll_interval_release_s: float = Field(DEFAULT_POLL_INTERVALS_S["release"], gt=0,
                                                    description="How often a device on `release` fetches its branch.")
    checkout_poll_interval_s: float | None = Field(None, gt=0, description="Overrides the channel's fetch interval; "
                                                                           "empty = the channel's.")
    checkout_poll_jitter: float = Field(0.1, ge=0, le=0.5, description="± this fraction of the fetch interval.")
    checkout_retry_initial_s: float = Field(30.0, gt=0, description="After a failed fetch retry after this, "
                                                                    "doubling up to the interval.")
    checkout_first_poll_delay_s: float = Field(10.0, ge=0, description="First fetch after start.")
    checkout_health_timeout_s: float = Field(300.0, gt=0,
                                             description="Every service must be healthy within this after a new "
                                                         "commit's `compose up`, else it is rolled back.")
    checkout_fetch_timeout_s: float = Field(300.0, gt=0, description="Time limit of one `git fetch`.")
    checkout_restart_units: str = Field("smartcam-cmds.service",
                                        description="Host units restarted after a commit changed (they read the "
                                                    "checkout's code and env files), comma-separated.")
    compose_project: str = Field("smartcam", pattern=r"^[a-z0-9][a-z0-9_-]*$", json_schema_extra=scope(Scope.INTERNAL),
                                 description="The compose project of the stack; another name only for tests beside a "
                                             "real stack.")
    postinstall_root: Path | None = Field(None, json_schema_extra=scope(Scope.INTERNAL),
                                          description="Test mode only: postinstall writes under this folder and "
                                                      "records system commands (its `--root`).")

    _restart_units: tuple[str, ...] = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._restart_units = tuple(unit.strip() for unit in self.checkout_restart_units.split(",") if unit.strip())

    @field_validator("repo_url")
    @classmethod
    def _git_url(cls, value: str) -> str:
        if value and not value.startswith(GIT_URL_SCHEMES):
            raise ValueError(f"not a git repository URL; use https://, ssh://, git:// or an absolute path "
                             f"(schemes: {', '.join(GIT_URL_SCHEMES)}), or leave it empty to stop following")
        return value

    @property
    def poll_interval(self) -> float:
        return channel_interval(self.channel, {"master": self.checkout_poll_interval_master_s,
                                               "devrelease": self.checkout_poll_interval_devrelease_s,
                                               "release": self.checkout_poll_interval_release_s},
                                self.checkout_poll_interval_s)

    @property
    def restart_units(self) -> list[str]:
        return list(self._restart_units)
