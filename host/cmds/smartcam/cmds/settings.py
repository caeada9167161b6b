"""Typed settings of the cmds service (SMARTCAM_* variables, from /etc/smartcam/smartcam.env)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from smartcam.common.settings import ChannelSettings

_LOOPBACK_NAMES = ("localhost",)


def is_url(source: str) -> bool:
    """A source is fetched over HTTP(S) when it looks like a URL, otherwise read as a local path."""
    return source.startswith(("http://", "https://"))


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CmdsSettings(ChannelSettings):
    """Where custom_cmds comes from, which key must have signed it, and how commands run."""

    custom_cmds_source: str = Field(
        "/opt/smartcam/custom_cmds",
        description="Where the cmds service reads `custom_cmds`: an `https://` URL (`{channel}` becomes the channel) "
                    "or a local path such as the checkout; the signature is the same name plus `.sig`.")
    public_key: Path = Field(Path("/etc/smartcam/custom_cmds.pub"),
                             description="The key that must have signed `custom_cmds`.")
    cmds_dir: Path = Field(Path("/var/lib/smartcam/cmds"),
                           description="Host folder of the cmds service's ledger and `status.json`; mounted "
                                       "read-only in the uploader, whose heartbeat carries the status.")
    cmds_poll_interval_s: float = Field(120.0, gt=0, description="How often the cmds service reads `custom_cmds`.")
    catch_up_window_s: float = Field(6 * 3600.0, ge=0, description="A due time missed while the device was off "
                                                                   "still runs if it is at most this old.")
    command_timeout_s: float = Field(1800.0, gt=0, description="A command still running after this is killed.")
    fetch_timeout_s: float = Field(30.0, gt=0, description="Total time to fetch `custom_cmds` and its signature "
                                                           "from a URL.")
    output_tail_chars: int = Field(2000, ge=0, le=100_000, description="How much of a command's output its "
                                                                       "ledger entry and status keep.")

    @field_validator("custom_cmds_source")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty; set it to an https:// URL or a local path of custom_cmds")
        if value.startswith("http://"):
            host = urlsplit(value).hostname or ""
            if not _is_loopback(host):
                raise ValueError(
                    f"{value!r} uses plain http; use https:// (plain http is accepted for loopback only)"
                )
        return value

    def resolved_source(self) -> str:
        """The source with the device's channel filled in."""
        return self.custom_cmds_source.replace("{channel}", self.channel)

    @property
    def ledger_file(self) -> Path:
        return self.cmds_dir / "ledger.json"

    @property
    def installed_marker_file(self) -> Path:
        """Written at the service's first-ever start: tells a lost ledger from a new device."""
        return self.cmds_dir / "installed_at"

    @property
    def status_file(self) -> Path:
        return self.cmds_dir / "status.json"
