"""Settings errors name the environment variable and the fix."""

import json

import pytest

from smartcam.capture.settings import CaptureSettings
from smartcam.common.settings import CameraSettings, ChannelSettings, SettingsError, load_settings
from smartcam.infer.settings import InferSettings
from smartcam.uploader.settings import UploaderSettings


class BothSettings(CameraSettings, ChannelSettings):
    """The shared settings a service such as the uploader reads."""


def test_defaults_load(monkeypatch):
    monkeypatch.delenv("SMARTCAM_CHANNEL", raising=False)
    settings = load_settings(BothSettings)
    assert settings.channel == "master"
    assert settings.camera_id == "smartcam-demo"


def test_bad_channel_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "Release Candidate!")
    with pytest.raises(SettingsError) as raised:
        load_settings(BothSettings)
    message = str(raised.value)
    assert "SMARTCAM_CHANNEL='Release Candidate!'" in message
    assert "master, devrelease, release" in message


def test_every_bad_variable_is_listed(monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "UPPER")
    monkeypatch.setenv("SMARTCAM_LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError) as raised:
        load_settings(BothSettings)
    assert "SMARTCAM_CHANNEL" in str(raised.value)
    assert "SMARTCAM_LOG_LEVEL='chatty'" in str(raised.value)


def test_the_settings_line_shows_every_variable_and_token_files_as_paths(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token")
    settings = UploaderSettings(auth_token_file=token, max_in_flight=3)
    line = json.loads(settings.log_line())
    assert set(line) == {f"SMARTCAM_{name.upper()}" for name in UploaderSettings.model_fields}
    assert line["SMARTCAM_AUTH_TOKEN_FILE"] == str(token)
    assert line["SMARTCAM_MAX_IN_FLIGHT"] == 3
    assert "s3cret-token" not in settings.log_line()


def test_parsed_forms_are_parsed_once():
    capture = CaptureSettings(source="picamera2:1", location="fixed:1.5,2.5")
    assert capture.source_spec is capture.source_spec
    assert capture.location_spec is capture.location_spec
    assert (capture.source_spec.camera_number, capture.location_spec.lat) == (1, 1.5)
    infer = InferSettings(detect_labels="face:0.6,person:0.4", blur_labels="face, person")
    assert infer.min_scores == {"face": 0.6, "person": 0.4}
    assert infer.blurred_labels == frozenset({"face", "person"})
    assert infer.cooldown_s == 30.0  # the default the README promised
