"""Camera health and the heartbeat's pipeline figures on the running stack: capture -> infer -> uploader -> target.

capture replays one photo made dark (a covered lens); infer raises `dark` after SMARTCAM_CAMERA_HEALTH_AFTER_S
and the target receives exactly one camera_health event, typed, through the normal upload path. capture is
then switched to the embedded photos (the lens uncovered): the same infer clears it with exactly one more.
The heartbeats meanwhile carry capture's and infer's figures, read from their status volumes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from jsonschema import Draft202012Validator
from PIL import Image

from tests.integration.harness import REPO, Stack

PHOTOS = REPO / "services/capture/photos"
EVENT_SCHEMA = json.loads((REPO / "docs/schemas/event.schema.json").read_text())


def _bodies(stack: Stack, path: str) -> list[dict]:
    return [json.loads(base64.b64decode(record["body_b64"])) for record in stack.requests(path)]


def _health_events(stack: Stack) -> list[dict]:
    return [body for body in _bodies(stack, "/events") if "camera_health" in body]


def test_a_covered_lens_raises_one_camera_health_event_and_clears_once(images, tmp_path: Path) -> None:
    covered = tmp_path / "covered"
    covered.mkdir()
    with Image.open(PHOTOS / "astronaut.jpg") as photo:
        dark = (np.asarray(photo.convert("RGB"), dtype=np.float64) * 0.03).astype(np.uint8)
    Image.fromarray(dark).save(covered / "covered.jpg", quality=90)
    for path in (covered, covered / "covered.jpg"):
        path.chmod(0o755)
    stack = Stack(tmp_path / "stack", {
        "SMARTCAM_SOURCE": "replay:/covered", "SMARTCAM_FPS": "2", "SMARTCAM_CAMERA_HEALTH_AFTER_S": "3",
        "SMARTCAM_HEARTBEAT_INTERVAL_S": "2", "SMARTCAM_CAMERA_ID": "cam-health-it",
    }, override={"services": {"capture": {"volumes": [f"{covered}:/covered:ro"]}}})
    try:
        stack.up("capture", "infer", "uploader", "target")
        stack.wait_for(lambda: len(_health_events(stack)) >= 1, timeout_s=90, what="the dark camera's event")
        stack.wait_for(lambda: any(beat["pipeline"]["camera_health"] == ["dark"]
                                   for beat in _bodies(stack, "/heartbeat")),
                       timeout_s=30, what="a heartbeat showing the dark camera")

        stack.env["SMARTCAM_SOURCE"] = "replay:/opt/smartcam/photos"  # the lens uncovered: capture restarts
        stack.up("capture")
        stack.wait_for(lambda: len(_health_events(stack)) >= 2, timeout_s=150, what="the dark camera's clearing")

        raised, cleared = _health_events(stack)
        assert (raised["camera_health"]["condition"], raised["camera_health"]["state"]) == ("dark", "raised")
        assert raised["camera_health"]["figures"]["brightness"] < 0.08
        assert (cleared["camera_health"]["condition"], cleared["camera_health"]["state"]) == ("dark", "cleared")
        assert cleared["camera_health"]["figures"]["brightness"] > 0.08
        for event in (raised, cleared):
            assert not list(Draft202012Validator(EVENT_SCHEMA).iter_errors(event))
            assert event["camera_id"] == "cam-health-it"
            assert event["sample"] is False
        assert raised["detections"][0]["label"] == "camera_health:dark"  # as the first release marked it
        assert cleared["detections"][0]["label"] == "camera_health:dark_cleared"
        # Every other event is exactly what earlier releases sent: no camera_health field at all.
        assert all("camera_health" not in body for body in _bodies(stack, "/events")
                   if not body["detections"] or not body["detections"][0]["label"].startswith("camera_health:"))

        beats = _bodies(stack, "/heartbeat")
        live = [beat["pipeline"] for beat in beats if beat["pipeline"]["capture_fps"] and beat["pipeline"]["infer_fps"]]
        assert live, [beat["pipeline"] for beat in beats]
        assert live[-1]["stale"] == []
        assert live[-1]["events_sent"] >= 1
        assert live[-1]["capture_status_age_s"] < 30
        assert beats[-1]["gps"]["source"] is None  # no GPS configured: null, not an error
        assert beats[-1]["problems"] == []
    finally:
        stack.down()
