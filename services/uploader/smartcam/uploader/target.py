"""Where events go: the first configured upload URL wins, validated before anything is sent.

Order: SMARTCAM_UPLOAD_URL, then `<config_mount>/upload_url` (set by the operator on the device),
then the older devices' `/etc/esb_url`, else the demo sink (with a warning, so a forgotten
setting is visible rather than silently uploading nowhere useful).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

from smartcam.common.settings import SettingsError, env_name
from smartcam.uploader.settings import UploaderSettings

UPLOAD_URL_FILE = "upload_url"
DEMO_SINK_SOURCE = "demo sink (no target configured)"
_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Target:
    """A validated upload URL and where it was configured (for log lines and errors)."""

    url: str
    source: str

    @property
    def shown(self) -> str:
        """The URL without any user:password part, safe for logs and status output."""
        return redact(self.url)


def resolve_target(settings: UploaderSettings, logger: logging.Logger) -> Target:
    """Pick and validate the upload URL; raise SettingsError naming the source and the fix."""
    env_value = (settings.upload_url or "").strip()
    if env_value:
        return _validated(env_value, env_name("upload_url"), f"set {env_name('upload_url')} to")
    for path in (settings.config_mount / UPLOAD_URL_FILE, settings.legacy_url_file):
        text = _read_url_file(path, logger)
        if text is not None:
            return _validated(text, f"file {path}", f"write into {path}")
    target = _validated(settings.demo_sink_url, env_name("demo_sink_url"), f"set {env_name('demo_sink_url')} to")
    logger.warning(
        "no upload target is configured, so events go to the demo sink %s; set %s or write the URL into %s",
        target.shown, env_name("upload_url"), settings.config_mount / UPLOAD_URL_FILE,
    )
    return Target(target.url, DEMO_SINK_SOURCE)


def resolve_heartbeat_target(settings: UploaderSettings, events: Target) -> Target | None:
    """Where heartbeats go: SMARTCAM_HEARTBEAT_URL as given if absolute, else relative to the upload URL.

    None (no heartbeats) when they are turned off, or when events go to the demo sink, which takes
    only events.
    """
    if settings.heartbeat_interval_s <= 0 or events.source == DEMO_SINK_SOURCE:
        return None
    value = settings.heartbeat_url.strip()
    name = env_name("heartbeat_url")
    if not value:
        raise SettingsError(f"{name} is empty; give a URL or a path such as /heartbeat, or set "
                            f"{env_name('heartbeat_interval_s')}=0 to send no heartbeats")
    return _validated(urljoin(events.url, value), f"{name} (relative to the upload URL)",
                      f"set {name} to a path such as /heartbeat, or to")


def _read_url_file(path: Path, logger: logging.Logger) -> str | None:
    """The URL in `path`, or None when the file does not exist (an unreadable or empty one is an error)."""
    if path.is_dir():
        # What Docker leaves when a bind-mounted file is missing on the host: treat it as "not configured".
        logger.warning("%s is a directory, not a file holding the upload URL; ignoring it", path)
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read the upload URL from file {path}: {error}; fix its permissions "
                            f"or contents, or delete it") from None
    if not text:
        raise SettingsError(f"file {path} is empty; write the upload URL (https://host/path) into it or delete it")
    return text


def _validated(url: str, source: str, fix: str) -> Target:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as error:
        raise SettingsError(_malformed(url, source, fix, str(error))) from None
    problem = _problem(url, parts)
    if problem:
        raise SettingsError(_malformed(url, source, fix, problem))
    return Target(url, source)


def _problem(url: str, parts: SplitResult) -> str | None:
    if any(character.isspace() for character in url):
        return "it contains white space"
    if parts.scheme.lower() not in _SCHEMES:
        return f"the scheme must be http or https, not {parts.scheme or 'missing'!r}"
    if not parts.hostname:
        return "it has no host"
    return None


def _malformed(url: str, source: str, fix: str, problem: str) -> str:
    return (f"upload URL {redact(url)!r} from {source} is malformed: {problem}; "
            f"{fix} a full URL such as https://example.org/events")


def redact(url: str) -> str:
    """Hide credentials embedded in a URL (user:password@host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None and parts.username is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"***@{host}").geturl()
