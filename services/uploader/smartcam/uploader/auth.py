"""Credentials for the upload target, read from files (Docker secrets) so they never sit in the environment."""

from __future__ import annotations

from pathlib import Path

from smartcam.common.settings import SettingsError, env_name
from smartcam.uploader.settings import UploaderSettings


def auth_headers(settings: UploaderSettings) -> dict[str, str]:
    """Headers to add to every upload: a bearer token and/or one custom `Name: value` header."""
    headers: dict[str, str] = {}
    if settings.auth_token_file is not None:
        token = _read_secret(settings.auth_token_file, "auth_token_file")
        if any(character.isspace() for character in token):
            raise SettingsError(f"the token in {settings.auth_token_file} ({env_name('auth_token_file')}) contains "
                                "white space; the file must hold only the token")
        headers["Authorization"] = f"Bearer {token}"
    if settings.auth_header_file is not None:
        line = _read_secret(settings.auth_header_file, "auth_header_file")
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or not value.strip() or "\n" in line or " " in name.strip():
            raise SettingsError(f"{settings.auth_header_file} ({env_name('auth_header_file')}) must hold one line "
                                "'Header-Name: value', e.g. 'X-Api-Key: abc123'")
        headers[name.strip()] = value.strip()
    return headers


def _read_secret(path: Path, field: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path} named by {env_name(field)}: {error}; "
                            "mount the file or unset the variable") from None
    if not text:
        raise SettingsError(f"{path} named by {env_name(field)} is empty; put the secret in it or unset the variable")
    return text
