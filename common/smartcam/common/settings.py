"""Typed settings from the environment (and `.env` via Compose), one class per service.

Every service subclasses `CommonSettings` and loads it with `load_settings`, which turns
pydantic's validation errors into one readable message naming the variable and the fix.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcam.common.wire import ID_RULE, valid_id

ENV_PREFIX = "SMARTCAM_"
CHANNELS = ("master", "devrelease", "release")
_CHANNEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


ZMQ_ENDPOINT_SCHEMES = ("tcp://", "ipc://", "inproc://")


def check_zmq_endpoint(value: str) -> str:
    """A ZeroMQ endpoint: scheme and address, e.g. tcp://*:5555 (bind) or tcp://capture:5555 (connect)."""
    _, _, address = value.partition("://")
    if not value.startswith(ZMQ_ENDPOINT_SCHEMES) or not address:
        raise ValueError(f"not a ZeroMQ endpoint; use {', '.join(ZMQ_ENDPOINT_SCHEMES)} followed by an address, "
                         "e.g. tcp://*:5555 or tcp://capture:5555")
    return value


ZmqEndpoint = Annotated[str, AfterValidator(check_zmq_endpoint)]


class SettingsError(Exception):
    """Raised when the environment holds a value a service cannot work with."""


class CommonSettings(BaseSettings):
    """Settings every service shares. Variables are named SMARTCAM_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    camera_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128)
    channel: str = "master"
    log_level: str = "INFO"
    health_file: Path = Path("/run/smartcam/health.json")

    @field_validator("camera_id")
    @classmethod
    def _camera_id_fits_the_wire(cls, value: str) -> str:
        """Every frame and event carries it; receivers reject ids outside the wire protocol's charset."""
        if not valid_id(value):
            raise ValueError(f"a camera id is {ID_RULE}, e.g. smartcam-0123abcd")
        return value

    @field_validator("channel")
    @classmethod
    def _channel_is_a_branch_name(cls, value: str) -> str:
        if not _CHANNEL_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a channel name; use one of {', '.join(CHANNELS)} "
                "(or another lower-case git branch name)"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR")
        if value.upper() not in levels:
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(levels)}")
        return value.upper()


SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(settings_class: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read settings from the environment, or raise SettingsError with one line per bad variable."""
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = str(item["loc"][0]) if item["loc"] else "?"
            message = str(item["msg"]).removeprefix("Value error, ")
            shown = item.get("input")
            value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
            problems.append(f"{env_name(field)}{value}: {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
