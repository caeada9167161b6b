"""Model updates end to end: real model server, real updater and infer containers, real models.

A good model is switched in without restarting infer; a file with the wrong sha256, a truncated
file, a file that is not a model and a manifest signed by an untrusted key are rejected, the serving
model keeps serving, and every attempt is in the update history.
"""

import base64
import json
import time

import pytest

from tests.integration.model_stack import BLAZEFACE_DIR, TINY_SSD_DIR, ModelStack

BLAZEFACE = json.loads((BLAZEFACE_DIR / "manifest.json").read_text())
TINY_SSD = json.loads((TINY_SSD_DIR / "manifest.json").read_text())
TINY_SSD_BYTES = (TINY_SSD_DIR / "model.tflite").read_bytes()
# The face model serves first. tiny-ssd detects "bright" and "red": make only "red" interesting and blur no label of
# the main model, so infer may switch to it (were faces of interest, the model trial would reject a model that loses
# the faces BlazeFace finds); faces stay blurred by the privacy stage either way.
# Baseline samples make every second frame an event, so each model's events keep coming.
SETTINGS = {"SMARTCAM_MODEL_DIR": "/opt/smartcam/models/blazeface-short-range",
            "SMARTCAM_FPS": "4", "SMARTCAM_COOLDOWN_S": "0", "SMARTCAM_BASELINE_EVERY_N": "2",
            "SMARTCAM_DETECT_LABELS": "red:0.5", "SMARTCAM_BLUR_LABELS": ""}
SERVICES = ("capture", "infer", "uploader", "target", "models", "updater")
WINDOW_S = 20.0


@pytest.fixture
def stack(images, tmp_path, release_signer):
    stack = ModelStack(tmp_path / "stack", SETTINGS, release_signer)
    yield stack
    stack.down()


def event_models(stack):
    """The `model` of every uploaded event, in arrival order."""
    return [json.loads(base64.b64decode(record["body_b64"]))["model"] for record in stack.requests()]


def ref(manifest, sha256=None):
    return {"name": manifest["name"], "sha256": sha256 or manifest["sha256"]}


def dropped(stack):
    return stack.health_file("capture")["counters"].get("frames.dropped", 0)


def wait_for_record(stack, sha256, timeout_s=90):
    stack.wait_for(lambda: any(r["to_ref"] == sha256 for r in stack.history()), timeout_s,
                   f"a history record for {sha256[:12]}")
    return next(r for r in stack.history() if r["to_ref"] == sha256)


def wait_for_more_events(stack, count, timeout_s=60):
    seen = len(stack.requests())
    stack.wait_for(lambda: len(stack.requests()) >= seen + count, timeout_s, f"{count} more events")
    return event_models(stack)[seen:]


def test_good_model_is_switched_in_without_restarting_infer(stack):
    stack.publish(BLAZEFACE_DIR)  # the channel serves the built-in model: nothing to do
    stack.up(*SERVICES)
    stack.wait_for(lambda: ref(BLAZEFACE) in event_models(stack), 120, "events from the built-in model")
    before = stack.container_state("infer")

    start = dropped(stack)  # the same interval without a switch, for comparison
    time.sleep(WINDOW_S)
    baseline = dropped(stack) - start

    published_at, start = time.monotonic(), dropped(stack)
    tiny_sha = stack.publish(TINY_SSD_DIR)
    record = wait_for_record(stack, tiny_sha)
    switch_s = time.monotonic() - published_at
    time.sleep(max(0.0, WINDOW_S - switch_s))
    during_switch = dropped(stack) - start
    print(f"\nframes dropped by capture in {WINDOW_S:.0f}s: without a switch {baseline}, "
          f"with a switch {during_switch} (publish -> switch recorded in {switch_s:.1f}s)")

    assert (record["kind"], record["target"], record["result"]) == ("model", TINY_SSD["name"], "updated")
    assert (record["from_ref"], record["to_ref"]) == (BLAZEFACE["sha256"], tiny_sha)
    assert "recent frame(s)" in record["reason"]  # the model trial ran on real frames
    assert stack.container_state("infer") == before  # same container, not restarted
    later = wait_for_more_events(stack, 4)
    assert all(model == ref(TINY_SSD) for model in later), later
    # One clean switch: old-model events, then only new-model events.
    models = [m["sha256"] for m in event_models(stack)]
    first_new = models.index(tiny_sha)
    assert set(models[:first_new]) == {BLAZEFACE["sha256"]}
    assert set(models[first_new:]) == {tiny_sha}
    infer = stack.health_file("infer")
    assert infer["counters"].get("models.switched") == 1
    assert infer["details"]["model"] == TINY_SSD["name"]
    assert during_switch <= baseline + 4, "a model switch should cost at most the frames in flight"

    stack.run("restart", "-t", "5", "infer")  # a restart keeps the accepted model
    stack.wait_for(lambda: stack.container_state("infer")["started_at"] != before["started_at"], 30, "infer restart")
    later = wait_for_more_events(stack, 2)
    assert all(model == ref(TINY_SSD) for model in later), later


def test_bad_models_are_rejected_recorded_and_the_old_model_keeps_serving(stack, stranger_signer):
    stack.publish(BLAZEFACE_DIR)
    stack.up(*SERVICES)
    stack.wait_for(lambda: ref(BLAZEFACE) in event_models(stack), 120, "events from the built-in model")
    before = stack.container_state("infer")

    other = bytes(reversed(TINY_SSD_BYTES))  # the manifest describes other bytes: wrong sha256
    wrong_sha = stack.publish(TINY_SSD_DIR, manifest_sha_of=other)
    record = wait_for_record(stack, wrong_sha)
    assert record["result"] == "rejected"
    assert "has sha256" in record["reason"]

    truncated = stack.publish(TINY_SSD_DIR, served=TINY_SSD_BYTES[: len(TINY_SSD_BYTES) // 2])
    record = wait_for_record(stack, truncated)
    assert record["result"] == "rejected"
    assert "is truncated" in record["reason"]

    garbage = b"this is not a model\n" * 100  # sha256 and size right: only infer can tell
    not_a_model = stack.publish(TINY_SSD_DIR, served=garbage, manifest_sha_of=garbage)
    record = wait_for_record(stack, not_a_model)
    assert record["result"] == "rejected"
    assert "not a TFLite model" in record["reason"]
    assert record["from_ref"] == BLAZEFACE["sha256"]

    # A manifest signed by a key the device does not trust: refused by the updater before any download.
    stack.publish(TINY_SSD_DIR, signer=stranger_signer)
    record = wait_for_record(stack, stack.manifest_digest)
    assert (record["kind"], record["target"], record["result"]) == ("model", "manifest", "rejected")
    assert "not signed by a key" in record["reason"]

    assert [r["result"] for r in stack.history()] == ["rejected"] * 4  # each tried once, none retried
    later = wait_for_more_events(stack, 4)
    assert all(model == ref(BLAZEFACE) for model in later), later
    assert stack.container_state("infer") == before
    # infer cannot change the models it loads: the models volume is read-only for it.
    write = stack.run("exec", "-T", "infer", "touch", "/var/lib/smartcam/models/x", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    infer = stack.health_file("infer")
    assert infer["counters"].get("models.rejected") == 1  # the other three never reached infer
    assert "rejected model" in stack.logs("infer")
    updater_log = stack.logs("updater")
    assert "is truncated" in updater_log
    assert "has sha256" in updater_log
