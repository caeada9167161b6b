"""Typed settings from the environment (and `.env` via Compose), one class per service.

Every service subclasses `CommonSettings` and loads it with `load_settings`, which turns
pydantic's validation errors into one readable message naming the variable and the fix.
"""

from __future__ import annotations

import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, JsonValue, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcam.common.health import DEFAULT_HEALTH_FILE
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
# One description per ZeroMQ channel: each end declares its own endpoint (bind or connect), wired by compose.yaml.
FRAMES_ENDPOINT_DESCRIPTION = "ZeroMQ endpoint of the frames channel: capture binds it, infer connects to it."
EVENTS_ENDPOINT_DESCRIPTION = "ZeroMQ endpoint of the events channel: the uploader binds it, infer connects to it."


class SettingsError(Exception):
    """Raised when the environment holds a value a service cannot work with."""


class Scope(StrEnum):
    """Who sets a variable, which decides where scripts/sync-settings puts it (compose.yaml, README)."""

    USER = "user"  # the operator, in the environment, `.env` or /etc/smartcam/*.env; compose forwards it unvalued
    WIRED = "wired"  # compose.yaml sets this exact value (how the containers find each other); not a user setting
    BUILD = "build"  # baked into the image at build time (compose build args); read from the image's environment
    INTERNAL = "internal"  # fixed by the image or its mounts; only tests change it


def scope(kind: Scope) -> dict[str, JsonValue]:
    """`json_schema_extra` for a field that is not a user setting: `Field(..., json_schema_extra=scope(Scope.X))`."""
    return {"scope": kind.value}


def field_scope(info: FieldInfo) -> Scope:
    """The scope a field was declared with (user settings carry none)."""
    extra = info.json_schema_extra
    return Scope(str(extra.get("scope", Scope.USER.value))) if isinstance(extra, dict) else Scope.USER


class CommonSettings(BaseSettings):
    """Settings every service shares. Variables are named SMARTCAM_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    log_level: str = Field("INFO", description="Log level: `DEBUG`, `INFO`, `WARNING` or `ERROR`.")
    fatal_hold_s: float = Field(
        15.0, ge=0.0, le=3600.0,
        description="After a fatal error, how long a service reports the reason through its healthcheck before it "
                    "exits with status 2 (also slows a crash loop; SIGTERM/SIGINT ends the hold at once).")
    health_file: Path = Field(Path(DEFAULT_HEALTH_FILE), json_schema_extra=scope(Scope.INTERNAL),
                              description="The service's health file, read by its Docker healthcheck.")

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR")
        if value.upper() not in levels:
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(levels)}")
        return value.upper()

    def log_line(self) -> str:
        """Every setting with its value, as one JSON object: the service logs it once at start.

        Secrets are never settings themselves (a token is a file, shown here as its path).
        """
        values = self.model_dump(mode="json")
        return json.dumps({env_name(name): values[name] for name in type(self).model_fields}, sort_keys=True)


class CameraSettings(CommonSettings):
    """For the services that put the camera id on what they send (capture, uploader, updater)."""

    camera_id: str = Field(
        "smartcam-demo", min_length=1, max_length=128,
        description="Device id carried in every event and heartbeat; 1 to 128 characters from `A-Z a-z 0-9 . _ : -` "
                    "(on a device, postinstall writes its own, which is also the hostname).")

    @field_validator("camera_id")
    @classmethod
    def _camera_id_fits_the_wire(cls, value: str) -> str:
        """Every frame and event carries it; receivers reject ids outside the wire protocol's charset."""
        if not valid_id(value):
            raise ValueError(f"a camera id is {ID_RULE}, e.g. smartcam-0123abcd")
        return value


class ChannelSettings(CommonSettings):
    """For the services that follow the update channel."""

    channel: str = Field(
        "master",
        description="Update channel = git branch (`master`, `devrelease`, `release`); also the tag of the images.")

    @field_validator("channel")
    @classmethod
    def _channel_is_a_branch_name(cls, value: str) -> str:
        if not _CHANNEL_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a channel name; use one of {', '.join(CHANNELS)} "
                "(or another lower-case git branch name)"
            )
        return value


class VersionSettings(CommonSettings):
    """For the services that report the version of their image."""

    version: str = Field("dev", json_schema_extra=scope(Scope.BUILD),
                         description="Version baked into the images (the publish script sets the git commit).")


class RegistrySettings(CommonSettings):
    """The registry images come from: the updater polls it, docker-api pulls only from it."""

    registry: str = Field("", description="Registry prefix of every image name, ending in `/` "
                                          "(`registry.example.com/`, `127.0.0.1:5000/`); empty = locally built "
                                          "images and image updates off.")

    @field_validator("registry")
    @classmethod
    def _registry_prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?/([a-z0-9._-]+/)*", value):
            raise ValueError(f"{value!r} is not a registry prefix: a host (and port), optionally a path, and it "
                             "must end with '/', e.g. 'registry.example.com/' or '127.0.0.1:5000/'")
        return value


class UpdaterStateSettings(CommonSettings):
    """The `updater-state` volume: the updater writes it, the uploader reads it."""

    updater_dir: Path = Field(Path("/var/lib/smartcam/updater"), json_schema_extra=scope(Scope.INTERNAL),
                              description="The updater's `state.json`, `history.json` and `bad-digests.json` "
                                          "(volume `updater-state`; read-only in the uploader).")


class ModelExchangeSettings(CommonSettings):
    """The `models` and `infer-state` volumes through which the updater offers models and infer answers."""

    models_dir: Path = Field(Path("/var/lib/smartcam/models"), json_schema_extra=scope(Scope.INTERNAL),
                             description="Models the updater verified and offers (volume `models`; read-only in "
                                         "infer; absent = model updates off).")
    infer_state_dir: Path = Field(Path("/var/lib/smartcam/infer-state"), json_schema_extra=scope(Scope.INTERNAL),
                                  description="Infer's active model and its verdict on each offered model "
                                              "(volume `infer-state`; read-only in the updater).")


class StatusDirSettings(CommonSettings):
    """capture and infer: where their status document for the uploader's heartbeat goes."""

    status_dir: Path = Field(Path("/var/lib/smartcam/status"), json_schema_extra=scope(Scope.INTERNAL),
                             description="Where the service writes `status.json` (frame rate, drops, GPS, events) "
                                         "about once a second (its own tmpfs volume `capture-status` or "
                                         "`infer-status`, read-only in the uploader).")


class FrameRingSettings(CommonSettings):
    """The shared-memory frame ring (`smartcam.common.ring`): capture writes it, infer maps it read-only."""

    frame_ring_file: Path = Field(Path("/run/smartcam-frames/frames.ring"), json_schema_extra=scope(Scope.INTERNAL),
                                  description="The frame ring file on the `frames` tmpfs volume (read-write in "
                                              "capture, read-only in infer, mounted nowhere else).")


class PipelineKeySettings(CommonSettings):
    """The `pipeline-keys` volume: CURVE keys of capture, infer and the uploader (see `pipeline_keys`)."""

    pipeline_keys_dir: Path = Field(Path("/var/lib/smartcam/pipeline-keys"), json_schema_extra=scope(Scope.INTERNAL),
                                    description="Each pipeline service's CURVE key pair, made on its first start, "
                                                "and the public keys of the others (volume `pipeline-keys`).")


SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return f"{ENV_PREFIX}{field.upper()}"


def early_value(field: str) -> str:
    """A common setting read before the whole class validates (it may be what is broken): env, else the default."""
    default = CommonSettings.model_fields[field].default
    return os.environ.get(env_name(field), str(default))


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
