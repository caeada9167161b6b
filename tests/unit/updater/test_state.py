"""state.json for the heartbeat."""

import json

from smartcam.common.contracts.base import read_document
from smartcam.common.contracts.model_exchange import STATE_NAME
from smartcam.common.contracts.updater_state import PendingUpdate, UpdaterState
from smartcam.updater.state import Pending, RunningService, active_model, write_state


def test_state_lists_each_service_image_digest_and_version(tmp_path):
    path = tmp_path / "state.json"
    write_state(path, {"infer": RunningService("r/smartcam/infer:master", "sha256:1", "git-0123456789ab"),
                       "capture": RunningService("r/smartcam/capture:master", None, "dev")})
    state = json.loads(path.read_text())
    assert state["services"] == {
        "capture": {"image": "r/smartcam/capture:master", "digest": None, "version": "dev"},
        "infer": {"image": "r/smartcam/infer:master", "digest": "sha256:1", "version": "git-0123456789ab"}}
    assert state["updated_at"].endswith("Z")
    assert state["model"] is None


def test_state_carries_infers_active_model(tmp_path):
    assert active_model(tmp_path) is None
    (tmp_path / STATE_NAME).write_text(json.dumps({"active": {"name": "face", "sha256": "ab", "dir": "/m"},
                                                   "verdicts": []}))
    write_state(tmp_path / "state.json", {}, active_model(tmp_path))
    assert json.loads((tmp_path / "state.json").read_text())["model"] == {"name": "face", "sha256": "ab"}


def waiting(kind, target, ref):
    return PendingUpdate(kind=kind, target=target, to_ref=ref, reason="waiting for the update window",
                         opens_at="2026-01-02T02:00:00Z")


def test_pending_updates_are_kept_per_target_cleared_and_written(tmp_path):
    pending = Pending()
    pending.hold(waiting("service", "infer", "sha256:1"))
    pending.hold(waiting("service", "infer", "sha256:2"))  # a newer digest replaces the older one
    pending.hold(waiting("model", "face", "ab"))
    pending.hold(waiting("model", "other", "cd"))
    assert [(p.target, p.to_ref) for p in pending.items()] == [("face", "ab"), ("other", "cd"), ("infer", "sha256:2")]
    pending.clear("model")
    assert [p.target for p in pending.items()] == ["infer"]
    write_state(tmp_path / "state.json", {}, None, pending.items())
    assert read_document(UpdaterState, tmp_path / "state.json", 65536).pending == pending.items()
    pending.clear("service", "infer")
    assert pending.items() == []
