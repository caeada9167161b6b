"""Per-device CURVE keys: made once, atomically and race-safely, kept readable only where they must be."""

import stat
import threading

import pytest
import zmq

from smartcam.common.pipeline_keys import (
    KeyFileError,
    own_keys,
    public_path,
    read_public_key,
    restart_when_keys_change,
    secret_path,
    wait_for_public_key,
)
from smartcam.common.service import FatalError


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_key_pair_is_made_on_first_start_and_the_same_one_read_on_every_later_one(tmp_path):
    keys_dir = tmp_path / "pipeline-keys"
    first = own_keys(keys_dir, "capture")
    again = own_keys(keys_dir, "capture")
    assert again == first
    assert zmq.curve_public(first.secret) == first.public
    assert read_public_key(keys_dir, "capture") == first.public
    assert mode(secret_path(keys_dir, "capture")) == 0o600
    assert mode(public_path(keys_dir, "capture")) == 0o644
    assert mode(keys_dir) == 0o700
    assert first.secret.decode() not in public_path(keys_dir, "capture").read_text()
    assert own_keys(keys_dir, "infer") != first  # one pair per service
    assert [p.name for p in sorted(keys_dir.iterdir())] == ["capture.key", "capture.key_secret", "infer.key",
                                                           "infer.key_secret"]  # no temporary file left


def test_services_starting_at_once_end_up_with_one_pair(tmp_path):
    keys_dir = tmp_path / "pipeline-keys"
    start = threading.Barrier(8)
    results = []

    def make():
        start.wait()
        results.append(own_keys(keys_dir, "uploader"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert read_public_key(keys_dir, "uploader") == results[0].public
    assert sorted(p.name for p in keys_dir.iterdir()) == ["uploader.key", "uploader.key_secret"]


def test_a_damaged_public_key_is_published_again_from_the_secret_one(tmp_path):
    keys = own_keys(tmp_path, "capture")
    public_path(tmp_path, "capture").write_text("garbage\n")
    assert own_keys(tmp_path, "capture") == keys
    assert read_public_key(tmp_path, "capture") == keys.public


@pytest.mark.parametrize("content", ["", 'public-key = "short"\nsecret-key = "short"\n', "\x00\xff" * 40])
def test_a_damaged_secret_key_stops_the_service_naming_the_file_and_the_fix(tmp_path, content):
    secret_path(tmp_path, "infer").write_text(content, errors="surrogateescape")
    with pytest.raises(KeyFileError) as raised:
        own_keys(tmp_path, "infer")
    assert isinstance(raised.value, FatalError)  # exit 2 with the reason, like any bad setting
    assert str(secret_path(tmp_path, "infer")) in str(raised.value)
    assert "delete it and restart" in str(raised.value)


def test_a_pair_whose_halves_do_not_match_is_refused(tmp_path):
    keys = own_keys(tmp_path, "infer")
    other_public, _ = zmq.curve_keypair()
    text = secret_path(tmp_path, "infer").read_text().replace(keys.public.decode(), other_public.decode())
    secret_path(tmp_path, "infer").write_text(text)
    with pytest.raises(KeyFileError, match="matching"):
        own_keys(tmp_path, "infer")


def test_a_key_folder_it_cannot_write_is_named_with_the_fix(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(KeyFileError, match="pipeline-keys volume"):
        own_keys(blocked / "keys", "capture")


def test_a_client_waits_for_its_servers_key_and_takes_it_once_published(tmp_path, logger):
    stop = threading.Event()
    reasons = []
    found = []
    waiter = threading.Thread(target=lambda: found.append(
        wait_for_public_key(tmp_path, "capture", stop, logger, reasons.append)))
    waiter.start()
    while not reasons:
        stop.wait(0.01)
    keys = own_keys(tmp_path, "capture")
    waiter.join(5)
    assert found == [keys.public]
    assert "capture" in reasons[0]
    assert str(public_path(tmp_path, "capture")) in reasons[0]


def test_waiting_for_a_key_ends_when_the_service_stops(tmp_path, logger):
    stop = threading.Event()
    stop.set()
    assert wait_for_public_key(tmp_path, "uploader", stop, logger, lambda _: None) is None


@pytest.mark.parametrize("rotation", ["own keys deleted", "server key replaced"])
def test_a_service_restarts_when_a_key_it_uses_is_rotated(tmp_path, logger, caplog, rotation):
    infer = own_keys(tmp_path, "infer")
    capture = own_keys(tmp_path, "capture")
    stop = threading.Event()
    watch = restart_when_keys_change(tmp_path, {"infer": infer.public, "capture": capture.public}, stop, logger,
                                     interval_s=0.02)
    assert not stop.wait(0.2)  # unchanged keys: it keeps running
    if rotation == "own keys deleted":
        for path in tmp_path.glob("infer.key*"):
            path.unlink()
    else:
        secret_path(tmp_path, "capture").unlink()
        own_keys(tmp_path, "capture")  # capture restarted with a new pair
    assert stop.wait(5)
    watch.join(5)
    assert any("restarting to use the new keys" in r.getMessage() for r in caplog.records)
