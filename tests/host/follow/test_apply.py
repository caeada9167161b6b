"""A signed commit comes into force only if its stack can start and becomes healthy; otherwise the old one stays."""

import logging

import pytest

from smartcam.follow.follower import Outcome


@pytest.mark.integration
def test_an_unhealthy_commit_is_rolled_back_and_not_retried(stack, channel, log_lines):
    good = channel.commit(tag="good")
    channel.push()
    follower = stack.follower()
    assert follower.poll() is Outcome.APPLIED
    assert stack.running()["tag"] == "good"

    sick = channel.commit("unhealthy", tag="sick")
    channel.push()
    assert follower.poll() is Outcome.REFUSED

    assert stack.current() == good
    assert stack.running()["tag"] == "good"  # the previous configuration runs again
    status = stack.status()
    assert status["state"] == "rolled_back"
    assert status["commit"] == good
    assert status["head"]["commit"] == sick
    assert "did not become healthy" in status["head"]["reason"]
    assert f"rolled back to {good[:12]}" in status["head"]["reason"]
    assert "attempt" not in stack.state() or stack.state()["attempt"] is None
    [record] = stack.history(sick)
    assert (record["from_ref"], record["result"]) == (good, "rolled_back")
    assert log_lines(logging.ERROR, sick[:12], "rolling back")

    # Not retried while the branch stays on it: the stack is not touched again.
    container = stack.running()["id"]
    assert follower.poll() is Outcome.UNCHANGED
    assert stack.running()["id"] == container
    assert len(stack.history(sick)) == 1
    assert stack.counters.get("checkout.rolled_back") == 1

    healed = channel.commit(tag="healed")
    channel.push()
    assert follower.poll() is Outcome.APPLIED
    assert stack.current() == healed
    assert stack.status()["state"] == "applied"
    assert stack.running()["tag"] == "healed"
    assert [r["result"] for r in stack.history()] == ["updated", "rolled_back", "updated"]


@pytest.mark.integration
@pytest.mark.parametrize(("variant", "why"), [
    ("unparsable", "compose configuration does not parse"),
    ("missing_image", "127.0.0.1:1/smartcam/missing:devrelease"),
], ids=["unparsable", "missing-image"])
def test_a_commit_whose_stack_cannot_start_is_rejected_before_anything_changes(stack, channel, variant, why):
    good = channel.commit(tag="good")
    channel.push()
    follower = stack.follower()
    assert follower.poll() is Outcome.APPLIED
    running = stack.running()
    record_before = (stack.root / "postinstall.record").read_text()

    broken = channel.commit(variant, tag="broken")
    channel.push()
    assert follower.poll() is Outcome.REFUSED

    assert stack.current() == good
    assert stack.running() == running  # the same container, untouched
    assert (stack.root / "postinstall.record").read_text() == record_before  # no host step ran
    status = stack.status()
    assert status["state"] == "rejected"
    assert status["head"]["commit"] == broken
    assert why in status["head"]["reason"]
    [record] = stack.history(broken)
    assert (record["from_ref"], record["result"]) == (good, "rejected")
    assert why in record["reason"]
    assert follower.poll() is Outcome.UNCHANGED
    assert len(stack.history(broken)) == 1


@pytest.mark.integration
@pytest.mark.parametrize(("files", "why"), [
    ({"host/follow/smartcam/follow/follower.py": b"def half_written(:\n"}, "SyntaxError"),
    ({"host/channel.env": b"SMARTCAM_CHECKOUT_POLL_INTERVAL_S=-5\n"}, "SMARTCAM_CHECKOUT_POLL_INTERVAL_S='-5'"),
    ({"host/channel.env": b"SMARTCAM_CUSTOM_CMDS_SOURCE=http://cmds.example.com/custom_cmds\n"},
     "SMARTCAM_CUSTOM_CMDS_SOURCE"),
], ids=["follower-does-not-import", "follower-setting-invalid", "cmds-setting-invalid"])
def test_a_commit_whose_host_services_cannot_start_never_comes_into_force(stack, channel, files, why):
    # A follower that cannot start would never receive the fix: the new tree's host services are tried first.
    good = channel.commit(tag="good")
    channel.push()
    follower = stack.follower()
    assert follower.poll() is Outcome.APPLIED
    running = stack.running()

    broken = channel.commit(tag="broken", files=files)
    channel.push()
    assert follower.poll() is Outcome.REFUSED

    assert stack.current() == good  # `current` never pointed at it
    assert stack.running() == running
    status = stack.status()
    assert status["state"] == "rolled_back"
    assert status["head"]["commit"] == broken
    assert "self-test" in status["head"]["reason"]
    assert why in status["head"]["reason"]
    assert follower.poll() is Outcome.UNCHANGED
