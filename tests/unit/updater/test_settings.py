"""Updater settings: the channel decides the polling interval; bad values give one clear line."""

import re

import pytest

from smartcam.common.settings import SettingsError, load_settings
from smartcam.updater.settings import UpdaterSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SMARTCAM_CHANNEL", "SMARTCAM_POLL_INTERVAL_S", "SMARTCAM_REGISTRY", "SMARTCAM_UPDATE_SERVICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("channel", "interval"), [("master", 300.0), ("devrelease", 1800.0),
                                                    ("release", 21600.0), ("feature-x", 300.0)])
def test_release_polls_slowest_and_master_fastest(monkeypatch, channel, interval):
    monkeypatch.setenv("SMARTCAM_CHANNEL", channel)
    assert load_settings(UpdaterSettings).poll_interval == interval


def test_an_explicit_interval_overrides_the_channel(monkeypatch):
    monkeypatch.setenv("SMARTCAM_CHANNEL", "release")
    monkeypatch.setenv("SMARTCAM_POLL_INTERVAL_RELEASE_S", "7200")
    assert load_settings(UpdaterSettings).poll_interval == 7200.0
    monkeypatch.setenv("SMARTCAM_POLL_INTERVAL_S", "3")
    assert load_settings(UpdaterSettings).poll_interval == 3.0


def test_registry_prefix_must_end_with_a_slash(monkeypatch):
    monkeypatch.setenv("SMARTCAM_REGISTRY", "registry.example.com")
    with pytest.raises(SettingsError, match=r"SMARTCAM_REGISTRY='registry\.example\.com': .*must end with '/'"):
        load_settings(UpdaterSettings)


def test_the_updater_is_not_listed_among_the_services(monkeypatch):
    monkeypatch.setenv("SMARTCAM_UPDATE_SERVICES", "infer, updater")
    with pytest.raises(SettingsError, match="SMARTCAM_UPDATE_SERVICES"):
        load_settings(UpdaterSettings)
    monkeypatch.setenv("SMARTCAM_UPDATE_SERVICES", " infer,capture ,")
    assert load_settings(UpdaterSettings).service_names == ["infer", "capture"]


def test_zero_interval_is_refused(monkeypatch):
    monkeypatch.setenv("SMARTCAM_POLL_INTERVAL_S", "0")
    with pytest.raises(SettingsError, match="SMARTCAM_POLL_INTERVAL_S"):
        load_settings(UpdaterSettings)


@pytest.mark.parametrize(("value", "problem"), [
    ("https://cdn.example.com/models", "leave out the path"),
    ("cdn.example.com", "No scheme supplied"),
    ("ftp://cdn.example.com", "not an http(s) URL"),
    ("http://docker-api:2375", "internal services"),
    ("http://uploader", "internal services"),
    ("http://169.254.169.254", "link-local"),
    ("http://2852039166", "link-local"),  # 169.254.169.254 as one number, as the resolver reads it
    ("http://[fe80::1]", "link-local"),
    ("http://metadata.google.internal", "cloud metadata service"),
])
def test_download_origins_refuse_paths_and_internal_or_metadata_hosts(monkeypatch, value, problem):
    monkeypatch.setenv("SMARTCAM_MODEL_DOWNLOAD_ORIGINS", f"https://ok.example.com,{value}")
    with pytest.raises(SettingsError, match=rf"SMARTCAM_MODEL_DOWNLOAD_ORIGINS=.*{re.escape(problem)}"):
        load_settings(UpdaterSettings)


def test_download_origins_are_a_list_of_origins(monkeypatch):
    monkeypatch.setenv("SMARTCAM_MODEL_DOWNLOAD_ORIGINS", " https://cdn.example.com, http://127.0.0.1:8080/ ,")
    settings = load_settings(UpdaterSettings)
    assert settings.model_download_origin_list == ["https://cdn.example.com", "http://127.0.0.1:8080/"]


def test_a_manifest_url_requests_cannot_send_is_refused(monkeypatch):
    monkeypatch.setenv("SMARTCAM_MODEL_MANIFEST_URL", "http://[::1/{channel}/manifest.json")
    with pytest.raises(SettingsError, match=r"SMARTCAM_MODEL_MANIFEST_URL=.*not a usable URL"):
        load_settings(UpdaterSettings)
