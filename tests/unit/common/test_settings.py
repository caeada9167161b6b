"""Settings errors name the environment variable and the fix."""

import pytest

from smartcam.common.settings import CommonSettings, SettingsError, load_settings


def test_defaults_load(monkeypatch):
    monkeypatch.delenv("SMARTCAM_CHANNEL", raising=False)
    settings = load_settings(CommonSettings)
    assert settings.channel == "master"
    assert settings.camera_id


def test_bad_channel_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "Release Candidate!")
    with pytest.raises(SettingsError) as raised:
        load_settings(CommonSettings)
    message = str(raised.value)
    assert "SMARTCAM_CHANNEL='Release Candidate!'" in message
    assert "master, devrelease, release" in message


def test_every_bad_variable_is_listed(monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "UPPER")
    monkeypatch.setenv("SMARTCAM_LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError) as raised:
        load_settings(CommonSettings)
    assert "SMARTCAM_CHANNEL" in str(raised.value)
    assert "SMARTCAM_LOG_LEVEL='chatty'" in str(raised.value)
