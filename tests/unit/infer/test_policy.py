"""Selection policy: thresholds, per-label cool-down, 'more objects' re-trigger, baseline samples."""

from __future__ import annotations

import pytest

from smartcam.common.wire import Detection
from smartcam.infer.policy import SelectionPolicy


def _face(score: float = 0.9, x: float = 0.1) -> Detection:
    return Detection("face", score, (x, 0.1, x + 0.2, 0.3))


def _person(score: float = 0.8) -> Detection:
    return Detection("person", score, (0.5, 0.1, 0.9, 0.9))


def test_only_configured_labels_at_or_above_their_minimum_count():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60)
    assert not policy.decide([_face(0.69), _person(0.99)], now=0).emit
    decision = policy.decide([_face(0.7), _face(0.5, x=0.6), _person(0.99)], now=1)
    assert decision.emit
    assert decision.detections == (_face(0.7),)
    assert decision.reason == "new"
    assert not decision.sample


def test_static_scene_is_sent_once_per_cooldown():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60)
    emitted_at = [t for t in range(0, 200, 5) if policy.decide([_face()], now=t).emit]
    assert emitted_at == [0, 60, 120, 180]


def test_cooling_down_frame_says_why():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60)
    policy.decide([_face()], now=0)
    decision = policy.decide([_face()], now=30)
    assert (decision.emit, decision.reason) == (False, "cooling_down")
    assert policy.decide([], now=31).reason == "nothing"


def test_more_objects_of_a_label_within_the_cooldown_is_a_new_event():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60)
    policy.decide([_face()], now=0)
    decision = policy.decide([_face(), _face(x=0.6)], now=10)
    assert (decision.emit, decision.reason) == (True, "more")
    assert len(decision.detections) == 2
    # the same two faces again, or one of them leaving, is the same scene
    assert not policy.decide([_face(), _face(x=0.6)], now=20).emit
    assert not policy.decide([_face()], now=30).emit


def test_cooldown_is_per_label():
    policy = SelectionPolicy({"face": 0.7, "person": 0.5}, cooldown_s=60)
    policy.decide([_face()], now=0)
    decision = policy.decide([_face(), _person()], now=10)
    assert (decision.emit, decision.reason) == (True, "new")  # person is new, face still cooling down
    assert {d.label for d in decision.detections} == {"face", "person"}


def test_baseline_sends_every_nth_frame_marked_as_sample():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60, baseline_every_n=3)
    decisions = [policy.decide([], now=t) for t in range(7)]
    assert [d.emit for d in decisions] == [False, False, True, False, False, True, False]
    assert all(d.sample for d in decisions if d.emit)
    assert decisions[2].reason == "baseline"


def test_an_event_frame_is_not_also_a_sample():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60, baseline_every_n=1)
    decision = policy.decide([_face()], now=0)
    assert (decision.emit, decision.sample, decision.reason) == (True, False, "new")
    assert policy.decide([_face()], now=1).sample  # cooling down, so now only the sample goes


def test_baseline_off_never_samples():
    policy = SelectionPolicy({"face": 0.7}, cooldown_s=60, baseline_every_n=0)
    assert not any(policy.decide([], now=t).emit for t in range(100))


def test_negative_settings_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        SelectionPolicy({"face": 0.7}, cooldown_s=-1)
