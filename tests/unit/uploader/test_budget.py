"""Which queued events go over the disk budget: the rule alone, without a database."""

from smartcam.uploader.budget import EVICTED_DETECTION, EVICTED_SAMPLE, Candidate, choose


def candidate(event_id, size=10, sample=False):
    return Candidate(event_id, f"{event_id}.jpg", size, sample)


def test_nothing_goes_while_the_images_fit():
    assert choose(100, 100, [candidate("a")], spared=set()) == []


def test_candidates_go_in_the_given_order_until_the_images_fit():
    candidates = [candidate("a", 30), candidate("b", 30), candidate("c", 30)]
    assert [c.event_id for c in choose(150, 100, candidates, spared=set())] == ["a", "b"]  # 150 -> 120 -> 90


def test_spared_events_are_skipped_and_the_next_ones_go_instead():
    candidates = [candidate("a", 30), candidate("b", 30), candidate("c", 30)]
    assert [c.event_id for c in choose(120, 100, candidates, spared={"a"})] == ["b"]


def test_when_only_spared_events_are_left_the_budget_stays_exceeded():
    assert choose(500, 100, [candidate("a"), candidate("b")], spared={"a", "b"}) == []


def test_the_reason_says_sample_or_detection():
    assert (candidate("a", sample=True).reason, candidate("b").reason) == (EVICTED_SAMPLE, EVICTED_DETECTION)
