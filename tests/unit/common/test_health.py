"""Health file: a service is healthy only while it keeps working."""

import json

from smartcam.common.counters import Counters
from smartcam.common.health import HealthReporter, evaluate, main


def test_working_service_is_healthy_and_reports_counters(tmp_path):
    path = tmp_path / "health.json"
    counters = Counters()
    counters.inc("frames.dropped", 3)
    reporter = HealthReporter(path, "capture", counters)
    reporter.working(fps=2.0)
    healthy, explanation = evaluate(path, max_age_s=30)
    assert healthy, explanation
    document = json.loads(path.read_text())
    assert document["counters"] == {"frames.dropped": 3}
    assert document["details"] == {"fps": 2.0}


def test_stalled_service_is_unhealthy(tmp_path):
    path = tmp_path / "health.json"
    HealthReporter(path, "infer").working()
    last_work = json.loads(path.read_text())["last_work"]
    healthy, explanation = evaluate(path, max_age_s=30, now=last_work + 31)
    assert not healthy
    assert explanation.startswith("stalled: last work 31s ago")


def test_failing_service_says_why_and_the_check_exits_nonzero(tmp_path, capsys):
    path = tmp_path / "health.json"
    HealthReporter(path, "infer").failing("model file /models/x.tflite is missing")
    assert main(["--file", str(path)]) == 1
    assert "failing: model file /models/x.tflite is missing" in capsys.readouterr().out


def test_missing_or_starting_is_unhealthy(tmp_path):
    assert not evaluate(tmp_path / "none.json", 30)[0]
    path = tmp_path / "health.json"
    HealthReporter(path, "uploader").degraded("just started")
    healthy, explanation = evaluate(path, 30)
    assert not healthy
    assert explanation.startswith("starting")


def test_provided_details_are_computed_when_the_file_is_written_not_per_unit_of_work(tmp_path):
    path = tmp_path / "health.json"
    reporter = HealthReporter(path, "infer")
    state = {"calls": 0, "frames": 0}

    def provider():
        state["calls"] += 1
        return {"frames_so_far": state["frames"]}

    reporter.add_details(provider)
    for _ in range(50):
        state["frames"] += 1
        reporter.working(model="m")
    # Written at most once a second: the provider ran for the writes, not for each of the 50 calls.
    assert 1 <= state["calls"] < 50
    written = json.loads(path.read_text())["details"]
    assert written["model"] == "m"
    assert written["frames_so_far"] == 1  # the first call wrote at once, with the figure of that moment
    state["frames"] = 77
    reporter.degraded("slow camera")  # a forced write computes the figures afresh
    assert json.loads(path.read_text())["details"] == {"model": "m", "frames_so_far": 77}
