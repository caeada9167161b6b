"""InferSettings from the environment: defaults, parsing, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcam.common.settings import SettingsError, load_settings
from smartcam.infer.settings import InferSettings


def _load(monkeypatch, **env: str) -> InferSettings:
    for name, value in env.items():
        monkeypatch.setenv(f"SMARTCAM_{name.upper()}", value)
    return load_settings(InferSettings)


def _error(monkeypatch, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        _load(monkeypatch, **env)
    return str(caught.value)


def test_defaults(monkeypatch):
    settings = _load(monkeypatch)
    assert settings.model_dir == Path("/opt/smartcam/models/efficientdet-lite0-coco")
    assert settings.min_scores == {"person": 0.5, "bicycle": 0.5, "car": 0.5, "motorcycle": 0.5, "bus": 0.5,
                                   "truck": 0.5}
    assert settings.blurred_labels == {"face"}
    assert settings.privacy_faces
    assert settings.privacy_model_dir == Path("/opt/smartcam/models/blazeface-short-range")
    assert (settings.ignore_zones, settings.zones, settings.privacy_masks) == ("", "", "")
    assert (settings.jpeg_quality, settings.jpeg_max_size, settings.baseline_every_n) == (85, 0, 0)
    assert settings.frames_endpoint == "tcp://capture:5555"
    assert settings.events_endpoint == "tcp://uploader:5556"
    assert (settings.max_unacked_events, settings.ack_timeout_s) == (200, 10.0)


def test_labels_of_interest_are_parsed(monkeypatch):
    settings = _load(monkeypatch, detect_labels=" face:0.6, person:.45,traffic light : 1 ")
    assert settings.min_scores == {"face": 0.6, "person": 0.45, "traffic light": 1.0}


def test_empty_blur_labels_turn_blurring_off(monkeypatch):
    assert _load(monkeypatch, blur_labels="").blurred_labels == frozenset()
    assert _load(monkeypatch, blur_labels="face, person").blurred_labels == {"face", "person"}


@pytest.mark.parametrize("value", ["face", "face:high", "face:1.5", ":0.5", "face:0.7;person:0.5"])
def test_bad_label_syntax_names_the_variable_and_the_form(monkeypatch, value):
    message = _error(monkeypatch, detect_labels=value)
    assert "SMARTCAM_DETECT_LABELS" in message
    assert "face:0.7,person:0.5" in message


def test_duplicate_and_empty_label_lists_are_refused(monkeypatch):
    assert "listed twice" in _error(monkeypatch, detect_labels="face:0.7,face:0.5")
    assert "at least one" in _error(monkeypatch, detect_labels=" , ")


@pytest.mark.parametrize(("name", "value"), [
    ("jpeg_quality", "0"), ("jpeg_quality", "100"), ("jpeg_max_size", "-1"), ("jpeg_max_size", "32"),
    ("cooldown_s", "-5"), ("baseline_every_n", "-1"), ("max_unacked_events", "0"), ("ack_timeout_s", "0"),
    ("frames_endpoint", "capture:5555"), ("events_endpoint", "tcp://"), ("jpeg_quality", "high"),
    ("camera_health_after_s", "-1"), ("camera_health_reference_s", "0"), ("camera_health_dark_below", "1.5"),
    ("camera_health_blur_ratio", "-0.1"), ("camera_health_scene_min_correlation", "2"),
    ("camera_health_after_s", "soon"),
])
def test_out_of_range_values_name_the_variable(monkeypatch, name, value):
    message = _error(monkeypatch, **{name: value})
    assert f"SMARTCAM_{name.upper()}={value!r}" in message
