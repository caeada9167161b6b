"""Settings of the channel follower (SMARTCAM_* variables, from the channel's and the device's env files)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from smartcam.common.polling import DEFAULT_POLL_INTERVALS_S, channel_interval
from smartcam.common.settings import CommonSettings

GIT_URL_SCHEMES = ("https://", "http://", "git://", "ssh://", "file://", "/")


class FollowSettings(CommonSettings):
    """Where the channel comes from, which keys may sign it, and how a new commit is applied."""

    # The repository whose branch `SMARTCAM_CHANNEL` the device follows; empty turns following off.
    repo_url: str = ""
    # The follower's state, history and the status the heartbeat carries (mounted read-only in the uploader).
    checkout_dir: Path = Path("/var/lib/smartcam/checkout")
    # The fetched repository, one folder per deployed commit, and the `current` link the units point at.
    deploy_dir: Path = Path("/var/lib/smartcam/deploy")
    # OpenSSH allowed-signers file (git's gpg.ssh.allowedSignersFile): who may sign the channel's commits.
    allowed_signers: Path = Path("/etc/smartcam/allowed_signers")
    # The device's configuration folder (smartcam.env, local.env), given to the stack's compose command.
    host_config_dir: Path = Path("/etc/smartcam")
    checkout_poll_interval_master_s: float = Field(DEFAULT_POLL_INTERVALS_S["master"], gt=0)
    checkout_poll_interval_devrelease_s: float = Field(DEFAULT_POLL_INTERVALS_S["devrelease"], gt=0)
    checkout_poll_interval_release_s: float = Field(DEFAULT_POLL_INTERVALS_S["release"], gt=0)
    checkout_poll_interval_s: float | None = Field(None, gt=0)  # overrides the channel's interval when set
    checkout_poll_jitter: float = Field(0.1, ge=0, le=0.5)
    checkout_retry_initial_s: float = Field(30.0, gt=0)
    checkout_first_poll_delay_s: float = Field(10.0, ge=0)
    # Every service must be healthy within this after a new commit's `compose up`, else it is rolled back.
    checkout_health_timeout_s: float = Field(300.0, gt=0)
    checkout_fetch_timeout_s: float = Field(300.0, gt=0)
    # Host units restarted after a commit changed (they read the checkout's code and env files).
    checkout_restart_units: str = "smartcam-cmds.service"
    # The compose project of the stack (host/compose); another name only for tests beside a real stack.
    compose_project: str = Field("smartcam", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    # Test mode only: postinstall writes under this folder and records system commands (its --root).
    postinstall_root: Path | None = None

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
        return [unit.strip() for unit in self.checkout_restart_units.split(",") if unit.strip()]
