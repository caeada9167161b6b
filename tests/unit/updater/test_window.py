"""The maintenance window: open from each cron match (UTC) for its length; a window that never opens is refused."""

from datetime import UTC, datetime

import pytest

from smartcam.common.settings import SettingsError, load_settings
from smartcam.common.window import Window, WindowError
from smartcam.updater.settings import UpdaterSettings


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("expression", "length_s", "now", "is_open", "next_opening"), [
    ("", 3600, "2026-01-01T12:00:00", True, None),
    ("0 2 * * *", 3600, "2026-01-01T01:59:59", False, "2026-01-01T02:00:00"),
    ("0 2 * * *", 3600, "2026-01-01T02:00:00", True, "2026-01-02T02:00:00"),
    ("0 2 * * *", 3600, "2026-01-01T02:59:59", True, "2026-01-02T02:00:00"),
    ("0 2 * * *", 3600, "2026-01-01T03:00:00", False, "2026-01-02T02:00:00"),
    ("0 23 * * *", 7200, "2026-01-02T00:30:00", True, "2026-01-02T23:00:00"),  # open across midnight
    ("30 1 * * 0", 1800, "2026-01-04T01:45:00", True, "2026-01-11T01:30:00"),  # Sundays only
    ("30 1 * * 0", 1800, "2026-01-05T01:45:00", False, "2026-01-11T01:30:00"),
])
def test_open_and_next_opening(expression, length_s, now, is_open, next_opening):
    window = Window(expression, length_s)
    assert window.is_open(at(now)) is is_open
    assert window.next_opening(at(now)) == (at(next_opening) if next_opening else None)


@pytest.mark.parametrize(("expression", "message"), [
    ("0 0 31 2 *", "never matches"),
    ("0 0 30 2 *", "never matches"),
    ("every night", "not a five-field cron expression"),
    ("0 2 * * * *", "not a five-field cron expression"),
    ("61 2 * * *", "not a five-field cron expression"),
])
def test_a_window_that_cannot_open_is_an_error(expression, message):
    with pytest.raises(WindowError, match=message):
        Window(expression)


def test_the_setting_names_itself_at_start(monkeypatch):
    monkeypatch.setenv("SMARTCAM_UPDATE_WINDOW", "0 0 31 2 *")
    with pytest.raises(SettingsError, match=r"SMARTCAM_UPDATE_WINDOW='0 0 31 2 \*': .*never matches"):
        load_settings(UpdaterSettings)


def test_an_empty_window_means_always_and_a_short_length_is_refused(monkeypatch):
    monkeypatch.setenv("SMARTCAM_UPDATE_WINDOW", "  ")
    assert load_settings(UpdaterSettings).window.always
    monkeypatch.setenv("SMARTCAM_UPDATE_WINDOW_LENGTH_S", "10")
    with pytest.raises(SettingsError, match="SMARTCAM_UPDATE_WINDOW_LENGTH_S"):
        load_settings(UpdaterSettings)
