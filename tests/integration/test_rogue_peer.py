"""A rogue container on the `pipeline` network, next to the real stack: it gets no frame and has no event stored."""

import base64
import json
from datetime import UTC, datetime

from tests.integration.harness import REPO, TEST_CHANNEL, Stack

ROGUE = REPO / "tests/integration/rogue_peer.py"
KEYS = "/var/lib/smartcam/pipeline-keys"
CAMERA_ID = "cam-it-curve"
ROGUE_WAIT_S = 6  # capture sends a frame within a second to a peer it admits (4 fps)
FACE_MODEL = {"SMARTCAM_MODEL_DIR": "/opt/smartcam/models/blazeface-short-range", "SMARTCAM_DETECT_LABELS": "face:0.7",
              "SMARTCAM_FPS": "4", "SMARTCAM_COOLDOWN_S": "0", "SMARTCAM_CAMERA_ID": CAMERA_ID}
# The rogue: any smartcam image's python and pyzmq, on the pipeline network only, without the pipeline-keys volume.
ROGUE_SERVICE = {
    "image": f"smartcam/uploader:{TEST_CHANNEL}",
    "user": "10001:10001",
    "read_only": True,
    "entrypoint": ["python", f"/rogue/{ROGUE.name}"],
    "volumes": [f"{ROGUE}:/rogue/{ROGUE.name}:ro"],
    "networks": ["pipeline"],
    "healthcheck": {"disable": True},
    "profiles": ["rogue"],
}


def public_key(stack, service):
    text = stack.run("exec", "-T", service, "cat", f"{KEYS}/{service}.key").stdout
    return next(line.split("=", 1)[1].strip().strip('"') for line in text.splitlines() if "public-key" in line)


def delivered(stack):
    """(event id, captured_at, camera id) of every event the target received."""
    events = []
    for record in stack.requests():
        payload = json.loads(base64.b64decode(record["body_b64"]))
        events.append((record["headers"]["Idempotency-Key"], payload["captured_at"], payload["camera_id"]))
    return events


def counters(stack, service):
    result = stack.run("exec", "-T", service, "cat", "/run/smartcam/health.json")
    return json.loads(result.stdout)["counters"]


def test_a_rogue_peer_gets_no_frame_and_its_forged_events_are_not_stored(images, tmp_path):
    stack = Stack(tmp_path, FACE_MODEL, override={"services": {"rogue": ROGUE_SERVICE}})
    try:
        stack.up("capture", "infer", "uploader", "target")
        stack.wait_for(lambda: delivered(stack), timeout_s=120, what="a first event through the CURVE pipeline")
        keys = {service: public_key(stack, service) for service in ("capture", "uploader")}
        modes = stack.run("exec", "-T", "uploader", "stat", "-c", "%n %a", f"{KEYS}/uploader.key",
                          f"{KEYS}/uploader.key_secret").stdout.split()
        assert modes == [f"{KEYS}/uploader.key", "644", f"{KEYS}/uploader.key_secret", "600"]

        rogue = stack.run("run", "--rm", "--no-deps", "-T", "rogue", keys["capture"], keys["uploader"], CAMERA_ID,
                          str(ROGUE_WAIT_S), timeout=120)
        after_rogue = datetime.now(UTC)
        report = json.loads(rogue.stdout.strip().splitlines()[-1])
        print("rogue peer:", json.dumps(report))
        assert report["keys_visible"] == []
        for attempt, replies in report["replies"].items():
            assert replies == [], f"{attempt}: the rogue got an answer {replies}"

        # Each server counted its refusals: no CURVE (handshake) and a key of the rogue's own (unknown_key).
        for service in ("capture", "uploader"):
            refused = counters(stack, service)
            assert refused.get("pipeline.refused.handshake", 0) >= 1, (service, refused)
            assert refused.get("pipeline.refused.unknown_key", 0) >= 1, (service, refused)
        assert counters(stack, "capture").get("frames.sent", 0) >= 1  # infer still gets frames

        # The queue delivers in order: once an event captured after the rogue left is delivered, a stored forged
        # event would have gone out before it.
        stack.wait_for(lambda: any(datetime.fromisoformat(at) > after_rogue for _, at, _ in delivered(stack)),
                       timeout_s=60, what="an event captured after the rogue's attempts")
        events = delivered(stack)
        assert [event_id for event_id, _, _ in events if event_id.startswith("rogue")] == []
        assert {camera for _, _, camera in events} == {CAMERA_ID}
        assert "refused a peer" in stack.logs("uploader")
    finally:
        stack.down()
