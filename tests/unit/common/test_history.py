"""Update history: survives reopening, stays bounded, newest last."""

from smartcam.common.history import UpdateHistory, UpdateRecord


def test_records_survive_reopening_and_stay_bounded(tmp_path):
    path = tmp_path / "state" / "history.json"
    history = UpdateHistory(path, keep=3)
    for n in range(5):
        history.append(UpdateRecord("service", "infer", f"sha256:{n}", f"sha256:{n + 1}", "updated", "new digest"))
    reopened = UpdateHistory(path, keep=3).records()
    assert [r.to_ref for r in reopened] == ["sha256:3", "sha256:4", "sha256:5"]
    assert reopened[-1].at.endswith("Z")


def test_missing_file_is_an_empty_history(tmp_path):
    assert UpdateHistory(tmp_path / "none.json").records() == []
