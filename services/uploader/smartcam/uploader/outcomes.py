"""What an upload attempt's result means for the event: delivered, retry later, or dead letter.

Only problems with the event itself dead-letter it. Problems with the link or the target's
configuration (redirects, credentials, wrong path) keep every event queued: dead-lettering
the whole queue because a token expired would turn a config slip into a pile of manual work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import requests

from smartcam.common.settings import env_name
from smartcam.uploader.backoff import parse_retry_after

SNIPPET_CHARS = 200
TRANSIENT_4XX = frozenset({408, 425, 429})  # timeout, too early, too many requests: try again later
_CREDENTIALS = frozenset({401, 403, 407})
_WRONG_ENDPOINT = frozenset({404, 405})
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")  # what a hostile server puts in a reason phrase or header
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # kept out of log lines (terminal escapes)


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    HELD = "held"  # not sent: over the data budget; it waits, neither a failure nor a retry


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    detail: str
    http_status: int | None = None
    retry_after_s: float | None = None
    retry_after_unreadable: str | None = None  # a Retry-After that was present but ignored (shown form)


def from_response(response: requests.Response, shown_url: str, body: bytes) -> Outcome:
    """Judge the target's HTTP answer; `body` is the start of the reply (all the uploader reads of it)."""
    status = response.status_code
    said = f"{shown_url} answered {status} {shown(response.reason or '', 80)}".rstrip()
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, said, status)
    if 300 <= status < 400:
        where = shown(response.headers.get("Location", "?"), SNIPPET_CHARS)
        return Outcome(Verdict.RETRY, f"{said} redirecting to {where}; set {env_name('upload_url')} to the final "
                                      "URL (uploads are not redirected: a redirected POST may silently become a GET)",
                       status)
    if status in _CREDENTIALS:
        return Outcome(Verdict.RETRY, f"{said}: the target refuses our credentials; check "
                                      f"{env_name('auth_token_file')} / {env_name('auth_header_file')}", status)
    if status in _WRONG_ENDPOINT:
        return Outcome(Verdict.RETRY, f"{said}: no upload endpoint there; check the upload URL", status)
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        return Outcome(Verdict.DEAD_LETTER, f"{said}: {snippet(body)}", status)
    raw_retry_after = response.headers.get("Retry-After")
    retry_after = parse_retry_after(raw_retry_after)
    wait = f" (Retry-After {retry_after:.0f}s)" if retry_after is not None else ""
    unreadable = shown(raw_retry_after, 40) if raw_retry_after is not None and retry_after is None else None
    return Outcome(Verdict.RETRY, f"{said}{wait}", status, retry_after, unreadable)


def refused_for_good(outcome: Outcome) -> bool:
    """The server answered, and not with "later" (5xx, 408/425/429, Retry-After): for a message that is
    not an event (the heartbeat), any such answer is final, configuration problems included."""
    if outcome.verdict is Verdict.DEAD_LETTER:
        return True
    status = outcome.http_status
    return status is not None and not 200 <= status < 300 and status < 500 and status not in TRANSIENT_4XX \
        and outcome.retry_after_s is None


def from_exception(error: requests.RequestException, shown_url: str, connect_s: float, read_s: float) -> Outcome:
    """Judge a failure to get any HTTP answer; all of these are worth retrying."""
    if isinstance(error, requests.exceptions.SSLError):
        detail = (f"TLS verification for {shown_url} failed ({_first_line(error)}); fix the server's certificate, "
                  f"or set {env_name('tls_verify')}=false for a test server only")
    elif isinstance(error, requests.exceptions.ConnectTimeout):
        detail = f"no connection to {shown_url} within {connect_s:g}s ({env_name('connect_timeout_s')})"
    elif isinstance(error, requests.exceptions.ReadTimeout):
        detail = f"{shown_url} did not answer within {read_s:g}s ({env_name('read_timeout_s')})"
    elif isinstance(error, requests.exceptions.ConnectionError):
        detail = f"cannot reach {shown_url}: {_first_line(error)}"
    else:
        detail = f"request to {shown_url} failed: {type(error).__name__}: {_first_line(error)}"
    return Outcome(Verdict.RETRY, detail)


def deadline_passed(shown_url: str, deadline_s: float) -> Outcome:
    """The attempt was cut short by its total deadline (a dripped or endless reply): retried later."""
    return Outcome(Verdict.RETRY, f"{shown_url} did not complete its reply within {deadline_s:g}s "
                                  f"({env_name('attempt_deadline_s')}); the reply was dripped or the link is too slow")


def unexpected(error: Exception) -> Outcome:
    """A failure no retry can fix, raised while building or sending one event: dead-letter that event."""
    return Outcome(Verdict.DEAD_LETTER, f"cannot send it: {type(error).__name__}: {shown(str(error), SNIPPET_CHARS)}")


def snippet(body: bytes) -> str:
    """The start of the reply body on one line, so a dead letter says why the server refused it."""
    text = _CONTROL.sub("?", " ".join(body[:SNIPPET_CHARS * 4].decode("utf-8", "replace").split()))
    if not text:
        return "(empty reply body)"
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def shown(text: str, limit: int) -> str:
    """A value from the server made safe for one log line: printable ASCII, at most `limit` characters."""
    cleaned = _UNPRINTABLE.sub("?", text)
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:SNIPPET_CHARS]
