"""A time window, cron-like in UTC: open from each match of a five-field cron expression for a length.

Shared by the updater's maintenance window (`SMARTCAM_UPDATE_WINDOW` + `_LENGTH_S`: updates start only
inside it) and the uploader's windows per event class (`SMARTCAM_UPLOAD_WINDOWS`: e.g. baseline samples
go only at night), so both read and check an expression the same way. An empty expression = always
open. Pure: the time is a parameter, so tests need no clock. A window that can never open (31 February)
is refused when the setting is read, not discovered as a device that never updates or never uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

ALWAYS = ""


class WindowError(ValueError):
    """A window that cannot work: not cron syntax, or a date that never comes."""


@dataclass(frozen=True)
class Window:
    expression: str = ALWAYS  # when it opens (cron, UTC); "" = always open
    length_s: float = 3600.0

    def __post_init__(self) -> None:
        check_expression(self.expression)

    @property
    def always(self) -> bool:
        return not self.expression.strip()

    def is_open(self, now: float) -> bool:
        if self.always:
            return True
        # The latest opening at or before `now` (croniter's get_prev excludes the start itself).
        latest = croniter(self.expression, _utc(now + 1)).get_prev(float)
        return now - latest < self.length_s

    def next_opening(self, now: float) -> float | None:
        """When the window opens next (None: always open)."""
        if self.always:
            return None
        return float(croniter(self.expression, _utc(now)).get_next(float))


def check_expression(expression: str) -> None:
    """WindowError unless `expression` is empty or a cron expression that matches some day."""
    if not expression.strip():
        return
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise WindowError(f"{expression!r} is not a five-field cron expression (minute hour day month weekday, "
                          "UTC), e.g. '0 2 * * *' for 02:00 every day; empty = always")
    try:
        croniter(expression, _utc(0)).get_next(float)
    except (CroniterBadDateError, CroniterBadCronError):
        raise WindowError(f"{expression!r} never matches a date (e.g. 31 February): the window would never "
                          "open; fix it, or leave it empty for always") from None


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
