"""Where model downloads may go: the manifest's own origin, or an origin the operator allow-listed.

The manifest is data from the network, so its `url` (and every redirect on the way) could send the
updater anywhere it can reach: the Docker API proxy, the cloud metadata service, its own loopback. A
URL is therefore allowed only when its origin (scheme, host, port) is the manifest's own origin or one
listed in SMARTCAM_MODEL_DOWNLOAD_ORIGINS; the check runs before each request, redirects included, on
the URL exactly as requests will send it (urllib3's parser), so a parser difference cannot slip past.
The allow-list itself may not name the project's internal services or a link-local (metadata) address;
the manifest's own origin may be anything the operator configured (tests serve it from loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

ORIGINS_SETTING = "SMARTCAM_MODEL_DOWNLOAD_ORIGINS"
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_SHOWN = 300
# Cloud metadata services by name (they resolve to 169.254.169.254).
METADATA_NAMES = frozenset({"metadata.google.internal", "instance-data.ec2.internal"})


class OriginRefused(Exception):  # noqa: N818 - reads better at the raise site
    """A URL outside the allowed origins; the message names the URL, the rule and the fix."""


class OriginError(ValueError):
    """An allow-list entry that is not a plain origin, or one that may never be allowed."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address keeps its brackets
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def shown(url: str) -> str:
    """`url` safe for a log line or the history: printable ASCII only, bounded length."""
    text = url.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(char if " " < char < "\x7f" else f"\\x{ord(char):02x}" for char in text)
    return text if len(text) <= MAX_URL_SHOWN else f"{text[:MAX_URL_SHOWN]}…"


def origin_of(url: str) -> Origin:
    """The origin requests will connect to for `url`; ValueError for a URL it cannot send."""
    try:
        prepared = requests.Request("GET", url).prepare().url or ""
        parsed = parse_url(prepared)
    except (requests.RequestException, LocationParseError, ValueError) as error:
        raise ValueError(f"not a usable URL ({error})") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("not an http(s) URL")
    if not parsed.host:
        raise ValueError("no host")
    return Origin(scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[scheme])


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, also in the legacy forms the resolver accepts (`2852039166`, `0xa9.0xfe...`)."""
    bare = host.strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(bare.split("%")[0])
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def special(host: str) -> tuple[str, str] | None:
    """(kind, why) when `host` is not a public publisher: an internal service, link-local, loopback; else None."""
    name = host.rstrip(".").lower()
    address = _address(host)
    if address is None:
        if name == "localhost" or name.endswith(".localhost"):
            return "loopback", f"{host} is the updater itself (loopback)"
        if name in METADATA_NAMES:
            return "link-local", f"{host} is a cloud metadata service (a link-local address)"
        if "." not in name:  # Docker's DNS answers these: `docker-api`, `uploader`, any container name
            return "internal", (f"{host} is one of this project's internal services (a name without a dot is a "
                                "container on the device's Docker networks)")
        return None
    kinds = (("link-local", address.is_link_local, "a link-local address (the cloud metadata service lives there)"),
             ("loopback", address.is_loopback, "the updater itself (loopback)"),
             ("not-host", address.is_unspecified or address.is_multicast or address.is_reserved,
              "not a host address"))
    return next(((kind, f"{host} is {why}") for kind, matches, why in kinds if matches), None)


def parse_allowed(entry: str) -> Origin:
    """One allow-list entry, `scheme://host[:port]`; OriginError naming what is wrong with it.

    Loopback may be listed (the operator's own choice: in the container only the updater listens there);
    the project's services, link-local and non-host addresses may not.
    """
    try:
        origin = origin_of(entry)
        parsed = parse_url(entry)
    except ValueError as error:
        raise OriginError(f"{entry!r}: {error}; give an origin such as https://models.example.com or "
                        "https://cdn.example.com:8443") from None
    if (parsed.path or "/") != "/" or parsed.query is not None or parsed.fragment is not None:
        raise OriginError(f"{entry!r} is not an origin: leave out the path, e.g. {origin.scheme}://{origin.host}")
    found = special(origin.host)
    if found is not None and found[0] != "loopback":
        raise OriginError(f"{entry!r}: {found[1]}; it cannot be allow-listed (serve the manifest from there instead)")
    return origin


class OriginPolicy:
    """Allows the manifest's origin and the allow-listed ones; refuses every other URL with the reason."""

    def __init__(self, manifest_url: str, allowed: Iterable[str]) -> None:
        self.manifest_origin = origin_of(manifest_url)
        self.allowed = frozenset(parse_allowed(entry) for entry in allowed)

    def checker(self, what: str) -> Callable[[str, str | None], None]:
        """`check` for the URLs of one kind of document (http.py's UrlCheck)."""
        return lambda url, via: self.check(url, what, redirected_from=via)

    def check(self, url: str, what: str, *, redirected_from: str | None = None) -> None:
        """OriginRefused unless `url` may be fetched; `what` names it ("model file"), `redirected_from` the hop."""
        subject = f"{what} {shown(url)}" if redirected_from is None else \
            f"{what} {shown(redirected_from)} redirects to {shown(url)}, which"
        try:
            origin = origin_of(url)
        except ValueError as error:
            raise OriginRefused(f"{subject} is refused: {error}") from None
        if origin == self.manifest_origin or origin in self.allowed:
            return
        listed = ", ".join(sorted(map(str, self.allowed))) or "empty"
        rule = (f"downloads go only to the manifest's origin {self.manifest_origin} or to an origin in "
                f"{ORIGINS_SETTING} ({listed})")
        found = special(origin.host)
        if found is not None and found[0] != "loopback":
            raise OriginRefused(f"{subject} is refused: {rule}, and {found[1]}, never allowed; publish the file "
                                "at the manifest's origin")
        why = "" if found is None else f"; {found[1]}"
        raise OriginRefused(f"{subject} is refused: {rule}{why}; publish the file at the manifest's origin, or "
                            f"add {origin} to {ORIGINS_SETTING} if that host is the publisher's")
