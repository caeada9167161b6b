"""Outages that are not the commit's fault: nothing changes, one log line each, and the next poll tries again."""

import logging
import os

import pytest

from smartcam.follow.follower import Outcome
from smartcam.follow.git import Repository


def test_an_unreachable_git_server_is_logged_once_per_outage(device, channel, log_lines):
    in_force = channel.commit(tag="in-force")
    channel.push()
    device.seed(in_force)
    follower = device.follower()
    assert follower.poll() is Outcome.UNCHANGED
    before = device.state()

    moved = channel.server.with_name("server-away.git")
    channel.server.rename(moved)
    for _ in range(3):
        assert follower.poll() is Outcome.UNREACHABLE

    assert device.current() == in_force
    assert device.state() == before
    status = device.status()
    assert status["poll"]["ok"] is False
    assert channel.url in status["poll"]["error"]
    assert "cannot fetch branch devrelease" in status["poll"]["error"]
    assert status["commit"] == in_force
    assert status["state"] == "applied"
    assert follower.last_error == status["poll"]["error"]
    assert len(log_lines(logging.ERROR, "cannot fetch", channel.url)) == 1
    assert device.counters.get("checkout.fetch_failed") == 3
    assert device.history() == []

    moved.rename(channel.server)
    assert follower.poll() is Outcome.UNCHANGED
    assert len(log_lines(logging.INFO, "answers again", channel.url)) == 1
    status = device.status()
    assert status["poll"]["ok"] is True
    assert status["poll"]["error"] is None
    assert follower.last_error is None

    # A second outage is a new one: logged again, once.
    channel.server.rename(moved)
    assert follower.poll() is Outcome.UNREACHABLE
    assert follower.poll() is Outcome.UNREACHABLE
    assert len(log_lines(logging.ERROR, "cannot fetch", channel.url)) == 2
    moved.rename(channel.server)
    assert follower.poll() is Outcome.UNCHANGED
    assert len(log_lines(logging.INFO, "answers again")) == 2


@pytest.mark.integration
def test_a_full_disk_keeps_the_old_commit_and_the_next_poll_applies(stack, small_disk, channel, fill, log_lines):
    in_force = channel.commit(tag="in-force")
    channel.push()
    stack.seed(in_force)
    follower = stack.follower()

    # A commit larger than what is left, its objects fetched already (as a poll cut short would leave them).
    new = channel.commit(tag="new", files={"payload.bin": os.urandom(1024 * 1024)})
    channel.push()
    Repository(small_disk / "repo.git").fetch(channel.url, "devrelease", 30)
    filler = fill(small_disk, 64 * 1024)

    for _ in range(2):
        assert follower.poll() is Outcome.FAILED
    assert stack.current() == in_force
    assert not stack.tree_exists(new), "no partial tree may be left"
    status = stack.status()
    assert status["state"] == "failed"
    assert status["head"]["commit"] == new
    assert "disk full" in status["head"]["reason"]
    assert status["commit"] == in_force
    assert len(log_lines(logging.ERROR, new[:12], "disk full")) == 1  # once per cause, not per poll
    [record] = stack.history(new)
    assert record["result"] == "failed"

    filler.unlink()
    assert follower.poll() is Outcome.APPLIED
    assert stack.current() == new
    assert stack.status()["state"] == "applied"
    assert stack.running()["tag"] == "new"
