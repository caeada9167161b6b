"""Fetching custom_cmds and its signature from a URL or a local path, bounded in size and time."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from smartcam.cmds.settings import is_url

SIGNATURE_SUFFIX = ".sig"
MAX_BYTES = 1024 * 1024


class FetchError(Exception):
    """custom_cmds could not be read this time (network, missing file); the next poll tries again."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    signature: bytes  # empty when the source has no signature next to it


def fetch(source: str, timeout_s: float) -> Fetched:
    """Read the file and its `.sig`; a missing signature is returned empty so the caller reports it."""
    read = _read_url if is_url(source) else _read_path
    data = read(source, timeout_s, required=True)
    signature = read(source + SIGNATURE_SUFFIX, timeout_s, required=False)
    return Fetched(data, signature)


def _read_path(path: str, _timeout_s: float, *, required: bool) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        if required:
            raise FetchError(f"{path} does not exist; check SMARTCAM_CUSTOM_CMDS_SOURCE") from None
        return b""
    except OSError as error:
        raise FetchError(f"cannot read {path}: {error.strerror}") from None
    return _bounded(path, data)


def _read_url(url: str, timeout_s: float, *, required: bool) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "smartcam-cmds", "Cache-Control": "no-cache"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        if error.code == 404 and not required:
            return b""
        raise FetchError(f"GET {url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"GET {url} failed: {reason}") from None
    return _bounded(url, data)


def _bounded(name: str, data: bytes) -> bytes:
    if len(data) > MAX_BYTES:
        raise FetchError(f"{name} is larger than {MAX_BYTES} bytes; custom_cmds must stay small")
    return data
