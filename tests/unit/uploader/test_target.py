"""Upload URL resolution: order of sources, demo-sink fallback, and one clear error per malformed URL."""

import logging

import pytest

from smartcam.common.settings import SettingsError
from smartcam.uploader.target import resolve_target

ENV_URL = "https://env.example/events"
CONFIG_URL = "https://config.example/events"
LEGACY_URL = "http://legacy.example/esb"


def write_config_url(settings, text):
    settings.config_mount.mkdir(parents=True, exist_ok=True)
    (settings.config_mount / "upload_url").write_text(text)


def test_the_environment_variable_wins_over_both_files(make_settings, logger):
    settings = make_settings(upload_url=ENV_URL)
    write_config_url(settings, CONFIG_URL)
    settings.legacy_url_file.write_text(LEGACY_URL)
    target = resolve_target(settings, logger)
    assert (target.url, target.source) == (ENV_URL, "SMARTCAM_UPLOAD_URL")


def test_the_config_file_wins_over_the_legacy_file(make_settings, logger):
    settings = make_settings()
    write_config_url(settings, CONFIG_URL + "\n")
    settings.legacy_url_file.write_text(LEGACY_URL)
    target = resolve_target(settings, logger)
    assert target.url == CONFIG_URL
    assert str(settings.config_mount / "upload_url") in target.source


def test_the_legacy_file_is_used_when_it_is_the_only_one(make_settings, logger):
    settings = make_settings()
    settings.legacy_url_file.write_text(f"  {LEGACY_URL}\n")
    target = resolve_target(settings, logger)
    assert target.url == LEGACY_URL
    assert str(settings.legacy_url_file) in target.source


def test_an_empty_variable_counts_as_unset(make_settings, logger):
    settings = make_settings(upload_url="  ")
    settings.legacy_url_file.write_text(LEGACY_URL)
    assert resolve_target(settings, logger).url == LEGACY_URL


def test_without_any_target_the_demo_sink_is_used_with_a_warning_saying_how_to_set_one(make_settings, logger,
                                                                                         caplog):
    settings = make_settings()
    with caplog.at_level(logging.WARNING):
        target = resolve_target(settings, logger)
    assert target.url == "http://demo-sink:8000/events"
    assert "demo sink" in target.source
    assert "no upload target is configured" in caplog.text
    assert "SMARTCAM_UPLOAD_URL" in caplog.text


MALFORMED = [
    ("ftp://host.example/events", "scheme must be http or https"),
    ("host.example/events", "scheme must be http or https"),
    ("https:///events", "no host"),
    ("https://host.example:99999/events", "out of range"),
    ("https://host.example:port/events", "Port could not be cast"),
    ("https://host example/events", "white space"),
]


@pytest.mark.parametrize(("url", "problem"), MALFORMED)
def test_a_malformed_variable_is_named_with_the_fix(make_settings, logger, url, problem):
    with pytest.raises(SettingsError) as raised:
        resolve_target(make_settings(upload_url=url), logger)
    message = str(raised.value)
    assert "SMARTCAM_UPLOAD_URL" in message
    assert problem in message
    assert "set SMARTCAM_UPLOAD_URL to a full URL" in message


@pytest.mark.parametrize(("url", "problem"), MALFORMED)
@pytest.mark.parametrize("which", ["config", "legacy"])
def test_a_malformed_file_is_named_with_the_fix(make_settings, logger, url, problem, which):
    settings = make_settings()
    path = settings.config_mount / "upload_url" if which == "config" else settings.legacy_url_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url)
    with pytest.raises(SettingsError) as raised:
        resolve_target(settings, logger)
    message = str(raised.value)
    assert f"file {path}" in message
    assert problem in message
    assert f"write into {path} a full URL" in message


def test_an_empty_file_is_an_error_naming_it(make_settings, logger):
    settings = make_settings()
    settings.legacy_url_file.write_text("\n")
    with pytest.raises(SettingsError, match=f"file {settings.legacy_url_file} is empty"):
        resolve_target(settings, logger)


def test_a_malformed_demo_sink_is_named(make_settings, logger):
    with pytest.raises(SettingsError, match="SMARTCAM_DEMO_SINK_URL"):
        resolve_target(make_settings(demo_sink_url="demo-sink:8000"), logger)


def test_credentials_in_the_url_are_kept_out_of_errors_and_logs(make_settings, logger):
    with pytest.raises(SettingsError) as raised:
        resolve_target(make_settings(upload_url="ftp://user:secret@host.example/x"), logger)
    assert "secret" not in str(raised.value)
    target = resolve_target(make_settings(upload_url="https://user:secret@host.example/x"), logger)
    assert target.url == "https://user:secret@host.example/x"
    assert target.shown == "https://***@host.example/x"


def test_a_directory_where_the_file_should_be_is_skipped_with_a_warning(make_settings, logger, caplog):
    settings = make_settings()
    settings.legacy_url_file.mkdir()  # Docker creates this when a bind-mounted file is missing on the host
    write_config_url(settings, CONFIG_URL)
    (settings.config_mount / "upload_url").unlink()
    (settings.config_mount / "upload_url").mkdir()
    with caplog.at_level(logging.WARNING):
        target = resolve_target(settings, logger)
    assert "demo sink" in target.source
    assert f"{settings.legacy_url_file} is a directory" in caplog.text
