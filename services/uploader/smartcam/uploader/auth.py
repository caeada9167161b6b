"""Credentials for the upload target, read from files (Docker secrets) so they never sit in the environment."""

from __future__ import annotations

import re
from pathlib import Path

from smartcam.common.settings import SettingsError, env_name
from smartcam.uploader.settings import UploaderSettings

# What HTTP carries in a header unchanged: anything else fails every request, not one event.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]+")


def auth_headers(settings: UploaderSettings) -> dict[str, str]:
    """Headers to add to every upload: a bearer token and/or one custom `Name: value` header."""
    headers: dict[str, str] = {}
    if settings.auth_token_file is not None:
        token = _read_secret(settings.auth_token_file, "auth_token_file")
        if any(character.isspace() for character in token):
            raise SettingsError(f"the token in {settings.auth_token_file} ({env_name('auth_token_file')}) contains "
                                "white space; the file must hold only the token")
        _check_sendable(token, settings.auth_token_file, "auth_token_file")
        headers["Authorization"] = f"Bearer {token}"
    if settings.auth_header_file is not None:
        line = _read_secret(settings.auth_header_file, "auth_header_file")
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or not value.strip() or "\n" in line or " " in name.strip():
            raise SettingsError(f"{settings.auth_header_file} ({env_name('auth_header_file')}) must hold one line "
                                "'Header-Name: value', e.g. 'X-Api-Key: abc123'")
        _check_sendable(value.strip(), settings.auth_header_file, "auth_header_file",
                        name_ok=_HEADER_NAME.fullmatch(name.strip()) is not None)
        headers[name.strip()] = value.strip()
    return headers


def _check_sendable(text: str, path: Path, field: str, *, name_ok: bool = True) -> None:
    if not (name_ok and _HEADER_VALUE.fullmatch(text)):
        raise SettingsError(f"{path} ({env_name(field)}) holds characters an HTTP header cannot carry; use printable "
                            "ASCII only (a token with other characters must be encoded, e.g. base64)")


def _read_secret(path: Path, field: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path} named by {env_name(field)}: {error}; "
                            "mount the file or unset the variable") from None
    if not text:
        raise SettingsError(f"{path} named by {env_name(field)} is empty; put the secret in it or unset the variable")
    return text
