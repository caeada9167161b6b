"""The upload windows per event class (`SMARTCAM_UPLOAD_WINDOWS`): when baseline samples, detections or
camera-health events may be sent.

On a link paid per megabyte or shared by day, bulk (baseline samples) can wait for the night while
detections go at once. Each entry is `class=cron [for seconds]`: the window opens at each match of the
five-field cron expression (UTC, `smartcam.common.window`, as the updater's `SMARTCAM_UPDATE_WINDOW`)
and stays open `for` seconds (3600 by default, as the update window). A class not named is always sent;
heartbeats are never windowed. Outside its window an event waits in the queue (the disk budget still
applies) and is counted as held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smartcam.common.window import Window, WindowError
from smartcam.uploader.event_classes import CLASSES

DEFAULT_LENGTH_S = 3600.0
MIN_LENGTH_S = 60.0  # a cron expression opens at most once a minute
MAX_LENGTH_S = 7 * 86400.0


def parse_windows(text: str) -> dict[str, Window]:
    """The window of each class named in `text`; ValueError naming the entry that cannot work."""
    windows: dict[str, Window] = {}
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        name, equals, rest = (part.strip() for part in entry.partition("="))
        if not equals or name not in CLASSES:
            raise ValueError(f"{entry!r} is not `class=cron [for seconds]` with a class of {', '.join(CLASSES)}; "
                             "e.g. 'samples=0 1 * * * for 14400'")
        if name in windows:
            raise ValueError(f"{name} has two windows; give each class one entry")
        expression, for_word, length = (part.strip() for part in rest.partition(" for "))
        windows[name] = _window(name, expression, length if for_word else None)
    return windows


def _window(name: str, expression: str, length: str | None) -> Window:
    if not expression:
        raise ValueError(f"{name} has no cron expression; e.g. '{name}=0 1 * * *', or leave {name} out for always")
    try:
        length_s = DEFAULT_LENGTH_S if length is None else float(length.removesuffix("s"))
    except ValueError:
        raise ValueError(f"{name}: {length!r} is not a length in seconds, e.g. 'for 7200'") from None
    if not MIN_LENGTH_S <= length_s <= MAX_LENGTH_S:
        raise ValueError(f"{name}: a window open {length_s:g} s; give {MIN_LENGTH_S:g} to {MAX_LENGTH_S:g} s")
    try:
        return Window(expression, length_s)
    except WindowError as error:
        raise ValueError(f"{name}: {error}") from None


class UploadWindows:
    """Which classes of event may not be sent at a given time; one, shared by delivery and the heartbeat."""

    def __init__(self, windows: dict[str, Window], clock: Callable[[], float] = time.time) -> None:
        self._windows = windows
        self._clock = clock

    def closed_now(self) -> frozenset[str]:
        return self.closed(self._clock()) if self._windows else frozenset()

    def next_opening_now(self, name: str) -> float | None:
        return self.next_opening(name, self._clock())

    @property
    def any(self) -> bool:
        return bool(self._windows)

    def closed(self, now: float) -> frozenset[str]:
        """The classes whose window is closed at `now` (seconds since 1970)."""
        return frozenset(name for name, window in self._windows.items() if not window.is_open(now))

    def next_opening(self, name: str, now: float) -> float | None:
        window = self._windows.get(name)
        return None if window is None else window.next_opening(now)
