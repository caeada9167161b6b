"""Uploader settings and credential files: defaults sized for 2G, and errors that name the variable and the fix."""

import pytest

from smartcam.common.settings import SettingsError, load_settings
from smartcam.uploader.auth import auth_headers
from smartcam.uploader.settings import PayloadFormat, UploaderSettings


def test_defaults(make_settings):  # the fixture clears SMARTCAM_* from the environment
    settings = load_settings(UploaderSettings)
    assert settings.upload_url is None
    assert settings.demo_sink_url == "http://demo-sink:8000/events"
    assert settings.events_endpoint == "tcp://*:5556"
    assert str(settings.queue_dir) == "/var/lib/smartcam/queue"
    assert str(settings.config_mount) == "/etc/smartcam"
    assert (settings.connect_timeout_s, settings.read_timeout_s) == (15.0, 60.0)
    assert settings.max_in_flight == 1
    assert settings.payload_format is PayloadFormat.JSON
    assert settings.tls_verify is True
    assert settings.queue_budget_bytes == 1024 * 1024 * 1024


def test_variables_are_read_from_the_environment(make_settings, monkeypatch):
    monkeypatch.setenv("SMARTCAM_PAYLOAD_FORMAT", "legacy")
    monkeypatch.setenv("SMARTCAM_TLS_VERIFY", "false")
    monkeypatch.setenv("SMARTCAM_UPLOAD_URL", "https://example.org/e")
    settings = make_settings()
    assert settings.payload_format is PayloadFormat.LEGACY
    assert settings.tls_verify is False
    assert settings.upload_url == "https://example.org/e"


@pytest.mark.parametrize(("overrides", "named"), [
    ({"payload_format": "xml"}, "SMARTCAM_PAYLOAD_FORMAT='xml'"),
    ({"backoff_base_s": 10.0, "backoff_cap_s": 5.0}, "SMARTCAM_BACKOFF_CAP_S=5.0"),
    ({"max_in_flight": 0}, "SMARTCAM_MAX_IN_FLIGHT=0"),
    ({"read_timeout_s": 0}, "SMARTCAM_READ_TIMEOUT_S=0"),
    ({"queue_budget_mb": -1}, "SMARTCAM_QUEUE_BUDGET_MB=-1"),
])
def test_bad_values_name_the_variable(make_settings, overrides, named):
    with pytest.raises(SettingsError, match=named.replace("(", r"\(")):
        make_settings(**overrides)


def test_cap_below_base_says_how_to_fix_it(make_settings):
    with pytest.raises(SettingsError, match="raise the cap or lower the base"):
        make_settings(backoff_base_s=10.0, backoff_cap_s=5.0)


def test_credential_files_become_headers(make_settings, tmp_path):
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "header").write_text("X-Api-Key:  k1 \n")
    headers = auth_headers(make_settings(auth_token_file=tmp_path / "token", auth_header_file=tmp_path / "header"))
    assert headers == {"Authorization": "Bearer tok", "X-Api-Key": "k1"}
    assert auth_headers(make_settings()) == {}


@pytest.mark.parametrize(("field", "content", "message"), [
    ("auth_token_file", None, "cannot read .* named by SMARTCAM_AUTH_TOKEN_FILE"),
    ("auth_token_file", "\n", "is empty"),
    ("auth_token_file", "two words", "contains white space"),
    ("auth_header_file", "no colon here", "must hold one line 'Header-Name: value'"),
    ("auth_header_file", "X-A: 1\nX-B: 2", "must hold one line"),
    # Not sendable in an HTTP header: would fail every request (and dead-letter every event)
    ("auth_token_file", "tök€n", "printable ASCII"),
    ("auth_header_file", "X-Api-Key: k€y", "printable ASCII"),
    ("auth_header_file", "X-Äpi: key", "printable ASCII"),
    ("auth_header_file", "X-Api-Key: a\x1bb", "printable ASCII"),
])
def test_bad_credential_files_are_named(make_settings, tmp_path, field, content, message):
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError, match=message):
        auth_headers(make_settings(**{field: path}))


def test_empty_auth_file_variables_mean_no_credentials(make_settings, monkeypatch):
    monkeypatch.setenv("SMARTCAM_AUTH_TOKEN_FILE", "")
    monkeypatch.setenv("SMARTCAM_AUTH_HEADER_FILE", " ")
    settings = make_settings()
    assert (settings.auth_token_file, settings.auth_header_file) == (None, None)
    assert auth_headers(settings) == {}
