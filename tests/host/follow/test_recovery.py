"""After a damaged state file or a power cut in the middle of an apply, the follower starts from what is on disk."""

import json
import logging
import time

import pytest

from smartcam.follow.deployments import Deployments
from smartcam.follow.follower import Outcome


@pytest.mark.integration
def test_a_damaged_state_file_is_moved_aside_and_nothing_is_applied_twice(stack, channel, log_lines):
    good = channel.commit(tag="good")
    channel.push()
    assert stack.follower().poll() is Outcome.APPLIED
    running = stack.running()

    # Head == the commit in force: a follower with a damaged state does not apply it a second time.
    state = stack.checkout_dir / "state.json"
    state.write_bytes(b"\x00\xffnot json{")
    follower = stack.follower()
    assert follower.recovered
    assert (stack.checkout_dir / "state.json.damaged").read_bytes() == b"\x00\xffnot json{"
    assert len(log_lines(logging.ERROR, "was damaged", "state.json.damaged")) == 1
    assert stack.counters.get("checkout.state_recovered") == 1
    follower.resume()  # checks the health of the commit in force
    assert stack.current() == good
    assert stack.running()["id"] == running["id"]
    assert follower.poll() is Outcome.UNCHANGED
    assert [r["result"] for r in stack.history(good)] == ["updated"]
    assert stack.status()["state"] == "applied"
    assert stack.status()["commit"] == good

    # A refused commit stays refused when the state is damaged again: bad-commits.json remembers it.
    unsigned = channel.commit(signer=None, tag="unsigned")
    channel.push()
    assert follower.poll() is Outcome.REFUSED
    state.write_text('{"attempt": {"stage": "nonsense"}}')  # valid JSON, not a valid state
    follower = stack.follower()
    assert follower.recovered
    follower.resume()
    assert follower.poll() is Outcome.UNCHANGED
    assert stack.current() == good
    assert not stack.tree_exists(unsigned)
    assert len(stack.history(unsigned)) == 1
    assert stack.running()["id"] == running["id"]
    assert len(log_lines(logging.ERROR, "was damaged")) == 2


def test_a_damaged_bad_commit_list_is_moved_aside_and_refused_commits_are_checked_again(device, channel, caplog):
    good = channel.commit(tag="good")
    channel.push()
    device.seed(good)
    unsigned = channel.commit(signer=None, tag="unsigned")
    channel.push()
    assert device.follower().poll() is Outcome.REFUSED

    bad_list = device.checkout_dir / "bad-commits.json"
    assert unsigned in bad_list.read_text()
    bad_list.write_text("[garbage")
    follower = device.follower()
    follower.resume()
    with caplog.at_level(logging.ERROR):
        assert follower.poll() is Outcome.REFUSED  # verified again, refused again

    assert (device.checkout_dir / "bad-commits.json.damaged").read_text() == "[garbage"
    assert any("bad-commits.json" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    assert unsigned in bad_list.read_text()
    assert device.current() == good
    assert not device.tree_exists(unsigned)
    assert device.status()["state"] == "rejected_unsigned"
    assert follower.poll() is Outcome.UNCHANGED


def _interrupted(device, from_commit, to_commit, stage):
    """The state.json an apply leaves when the power is cut at `stage`."""
    now = time.time()
    (device.checkout_dir / "state.json").write_text(json.dumps({
        "previous": None, "applied_at": now - 60, "refused": [],
        "attempt": {"from_commit": from_commit, "to_commit": to_commit, "stage": stage, "started_at": now},
        "head": {"commit": to_commit, "state": "applying", "reason": "", "at": now, "force_pushed": False},
    }))


def _fetched_and_unpacked(device, channel, commit):
    deployments = Deployments(device.deploy_dir)
    assert deployments.repository.fetch(channel.url, "devrelease", 30) == commit
    deployments.prepare(commit)
    return deployments


@pytest.mark.integration
def test_a_power_cut_after_the_switch_is_health_checked_and_rolled_back(stack, channel, log_lines):
    good = channel.commit(tag="good")
    channel.push()
    assert stack.follower().poll() is Outcome.APPLIED

    sick = channel.commit("unhealthy", tag="sick")
    channel.push()
    _fetched_and_unpacked(stack, channel, sick).switch(sick)
    _interrupted(stack, good, sick, "switched")
    assert stack.current() == sick

    follower = stack.follower()
    follower.resume()

    assert log_lines(logging.WARNING, "interrupted after it came into force")
    assert stack.current() == good
    assert stack.running()["tag"] == "good"
    assert stack.state()["attempt"] is None
    status = stack.status()
    assert status["state"] == "rolled_back"
    assert status["commit"] == good
    assert status["head"]["commit"] == sick
    assert [r["result"] for r in stack.history(sick)] == ["rolled_back"]
    assert follower.poll() is Outcome.UNCHANGED  # not retried
    assert stack.current() == good


@pytest.mark.integration
def test_a_power_cut_during_the_host_steps_restores_the_commit_in_force(stack, channel, log_lines):
    good = channel.commit(tag="good")
    channel.push()
    assert stack.follower().poll() is Outcome.APPLIED

    new = channel.commit(tag="new")
    channel.push()
    _fetched_and_unpacked(stack, channel, new)
    _interrupted(stack, good, new, "host")
    (stack.root / "etc/systemd/system/smartcam-cmds.service").write_text("half written by the new commit\n")

    follower = stack.follower()
    follower.resume()

    assert log_lines(logging.WARNING, "interrupted before it came into force")
    assert stack.current() == good
    assert stack.running()["tag"] == "good"
    assert "ExecStart=" in (stack.root / "etc/systemd/system/smartcam-cmds.service").read_text()  # restored
    assert stack.state()["attempt"] is None
    status = stack.status()
    assert status["state"] == "failed"
    assert "interrupted" in status["head"]["reason"]
    assert status["commit"] == good

    # Not the commit's fault: it is tried again, and applied.
    assert follower.poll() is Outcome.APPLIED
    assert stack.current() == new
    assert stack.running()["tag"] == "new"


@pytest.mark.integration
def test_a_power_cut_between_the_switch_and_its_record_is_health_checked_and_rolled_back(stack, channel, log_lines):
    """The link is the truth: it already names the new commit although the attempt still says "host"."""
    good = channel.commit(tag="good")
    channel.push()
    assert stack.follower().poll() is Outcome.APPLIED

    sick = channel.commit("unhealthy", tag="sick")
    channel.push()
    _fetched_and_unpacked(stack, channel, sick).switch(sick)
    _interrupted(stack, good, sick, "host")

    follower = stack.follower()
    follower.resume()

    assert log_lines(logging.WARNING, "interrupted after it came into force")
    assert stack.current() == good
    assert stack.running()["tag"] == "good"
    assert stack.state()["attempt"] is None
    assert stack.status()["state"] == "rolled_back"
    assert [r["result"] for r in stack.history(sick)] == ["rolled_back"]
    assert follower.poll() is Outcome.UNCHANGED
    assert stack.current() == good


def test_a_damaged_history_is_moved_aside_and_the_follower_goes_on(device, channel, caplog):
    good = channel.commit(tag="good")
    channel.push()
    device.seed(good)
    history = device.checkout_dir / "history.json"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text('[{"kind": "checkout", "targ')  # cut short
    unsigned = channel.commit(signer=None, tag="unsigned")
    channel.push()

    follower = device.follower()
    with caplog.at_level(logging.ERROR):
        assert follower.poll() is Outcome.REFUSED

    assert (device.checkout_dir / "history.json.damaged").read_text() == '[{"kind": "checkout", "targ'
    assert any("history.json" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    [record] = device.history()
    assert (record["to_ref"], record["result"]) == (unsigned, "rejected")
    assert device.status()["state"] == "rejected_unsigned"
    assert device.current() == good
