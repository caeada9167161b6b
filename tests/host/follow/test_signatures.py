"""Only commits signed by a trusted key are applied; force-pushes too, and refusals are remembered."""

import logging

import pytest

from smartcam.follow.follower import Outcome


@pytest.mark.integration
def test_a_signed_head_is_applied_and_its_stack_runs_healthy(stack, channel, log_lines):
    first = channel.commit(tag="first")
    channel.push()
    follower = stack.follower()
    follower.resume()
    assert stack.status()["state"] == "unknown"

    assert follower.poll() is Outcome.APPLIED

    assert stack.current() == first
    assert follower.current == first
    status = stack.status()
    assert status["state"] == "applied"
    assert status["commit"] == first
    assert status["head"]["commit"] == first
    assert status["head"]["force_pushed"] is False
    assert status["poll"]["ok"] is True
    assert status["repo"] == channel.url
    assert status["channel"] == "devrelease"
    [record] = stack.history()
    assert record["kind"] == "checkout"
    assert (record["from_ref"], record["to_ref"], record["result"]) == (None, first, "updated")
    assert stack.running()["tag"] == "first"
    # The tree's own host steps ran, in postinstall's test mode, from the new tree.
    unit = (stack.root / "etc/systemd/system/smartcam-cmds.service").read_text()
    assert "ExecStart=" in unit
    assert (stack.root / "postinstall.record").is_file()
    assert log_lines(logging.INFO, first[:12], "signed by publisher@example.com")

    # Nothing new: nothing happens.
    container = stack.running()["id"]
    assert follower.poll() is Outcome.UNCHANGED
    assert stack.running()["id"] == container
    assert len(stack.history()) == 1


def _unsigned(channel):
    return channel.commit(signer=None)


def _signed_by_another_key(channel):
    return channel.commit(signer="other")


def _tampered(channel):
    return channel.tamper(channel.commit())


@pytest.mark.integration
@pytest.mark.parametrize(("make", "why"), [
    (_unsigned, "is not signed"),
    (_signed_by_another_key, "is signed by a key that is not in the allowed signers"),
    (_tampered, "has a bad signature"),
], ids=["unsigned", "other-key", "tampered"])
def test_an_untrusted_head_is_refused_once_and_a_later_signed_one_applied(stack, channel, log_lines, make, why):
    good = channel.commit(tag="good")
    channel.push()
    stack.seed(good)
    follower = stack.follower()
    follower.resume()

    bad = make(channel)
    channel.push()
    assert follower.poll() is Outcome.REFUSED

    assert stack.current() == good
    assert not stack.tree_exists(bad), "nothing of an unverified commit may be unpacked"
    status = stack.status()
    assert status["state"] == "rejected_unsigned"
    assert status["commit"] == good
    assert status["head"]["commit"] == bad
    assert why in status["head"]["reason"]
    assert [r["commit"] for r in status["refused"]] == [bad]
    [record] = stack.history(bad)
    assert (record["from_ref"], record["result"]) == (good, "rejected")
    assert why in record["reason"]
    assert len(log_lines(logging.ERROR, bad[:12])) == 1

    # Remembered: not verified, logged or recorded again while the branch stays there.
    for _ in range(2):
        assert follower.poll() is Outcome.UNCHANGED
    assert stack.counters.get("checkout.rejected_unsigned") == 1
    assert len(log_lines(logging.ERROR, bad[:12])) == 1
    assert len(stack.history(bad)) == 1
    assert stack.status()["state"] == "rejected_unsigned"
    assert stack.current() == good

    fixed = channel.commit(tag="fixed")
    channel.push()
    assert follower.poll() is Outcome.APPLIED
    assert stack.current() == fixed
    assert stack.status()["state"] == "applied"
    assert stack.running()["tag"] == "fixed"
    assert [r["result"] for r in stack.history()] == ["rejected", "updated"]


@pytest.mark.integration
def test_a_signed_force_push_is_applied_with_a_warning(stack, channel, log_lines):
    base = channel.commit(tag="base")
    in_force = channel.commit(tag="in-force")
    channel.push()
    stack.seed(in_force)
    follower = stack.follower()

    channel.reset(base)
    rewritten = channel.commit(tag="rewritten")
    channel.push(force=True)
    assert follower.poll() is Outcome.APPLIED

    assert stack.current() == rewritten
    status = stack.status()
    assert status["state"] == "applied"
    assert status["head"]["commit"] == rewritten
    assert status["head"]["force_pushed"] is True
    [warning] = log_lines(logging.WARNING, "force-pushed")
    assert rewritten[:12] in warning
    assert in_force[:12] in warning
    assert stack.counters.get("checkout.force_pushed") == 1
    assert stack.running()["tag"] == "rewritten"


def test_an_unsigned_force_push_is_refused(device, channel, log_lines):
    base = channel.commit(tag="base")
    in_force = channel.commit(tag="in-force")
    channel.push()
    device.seed(in_force)
    follower = device.follower()

    channel.reset(base)
    rewritten = channel.commit(signer=None, tag="rewritten")
    channel.push(force=True)
    assert follower.poll() is Outcome.REFUSED

    assert device.current() == in_force
    assert not device.tree_exists(rewritten)
    status = device.status()
    assert status["state"] == "rejected_unsigned"
    assert status["head"]["force_pushed"] is True
    assert "is not signed" in status["head"]["reason"]
    assert len(log_lines(logging.WARNING, "force-pushed")) == 1
    assert follower.poll() is Outcome.UNCHANGED
    assert len(log_lines(logging.WARNING, "force-pushed")) == 1
