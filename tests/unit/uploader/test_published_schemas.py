"""What the real uploader sends validates against the schemas published in docs/schemas/.

The uploader's own delivery loop (its HTTP session, queue and heartbeat) posts to a real HTTP server on
loopback; every body it receives, in each payload format, is checked with `jsonschema` against the committed
schema files, as a target implementer would. The host files the heartbeat carries are written by their real
writers (updater, infer, cmds service, channel follower), so the nested documents are the real ones too.
"""

import base64
import email.parser
import email.policy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from smartcam.cmds.status import write_status as write_cmds_status
from smartcam.common.contracts.checkout_status import CheckoutStatus, HeadOutcome, PollResult
from smartcam.common.contracts.checkout_status import write_status as write_checkout_status
from smartcam.common.contracts.cmds_status import CmdsStatus, EntryResult, LedgerReport, VerifiedFile
from smartcam.common.history import UpdateHistory, UpdateRecord
from smartcam.common.wire import Location, ModelRef
from smartcam.infer.model_state import ModelState
from smartcam.updater.state import RunningService, active_model, write_state

from .conftest import JPEG
from .test_payloads import camera_health_event

SCHEMAS = Path(__file__).resolve().parents[3] / "docs/schemas"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(name: str, document: object) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(document)]
    assert errors == [], f"{name}: {errors}"


@pytest.fixture
def host_files(tmp_path, logger):
    """The files the heartbeat reads, written by the services that write them on a device."""
    cmds, updater, checkout, infer_state = (tmp_path / name for name in ("cmds", "updater", "checkout", "infer"))
    for folder in (cmds, updater, checkout, infer_state):
        folder.mkdir()
    ModelState(infer_state, logger).accepted("c1", _model_ref(), tmp_path / "models" / ("ab" * 32), "trial passed",
                                             _model_ref("old"))
    write_state(updater / "state.json", {"infer": RunningService("r/smartcam/infer:master", "sha256:1", "git-1"),
                                         "capture": RunningService("r/smartcam/capture:master", None, "dev")},
                active_model(infer_state))
    history = UpdateHistory(updater / "history.json")
    history.append(UpdateRecord("service", "infer", "sha256:0", "sha256:1", "updated", "healthcheck passed"))
    history.append(UpdateRecord("model", "blazeface", None, "ab" * 32, "rejected", "low recall"))
    write_cmds_status(cmds / "status.json", CmdsStatus(
        updated_at=1_800_000_000.0, channel="devrelease", source="https://git.example/custom_cmds",
        poll=PollResult(at=1_800_000_000.0, ok=True), file=VerifiedFile(sha256="cd" * 32, entries=1),
        recent=[EntryResult(line=1, entry="@reboot echo hi", due=1.0, state="done", updated_at=2.0,
                            result={"commands": [{"command": "echo hi", "exit_code": 0}], "not_run": []})],
        ledger=LedgerReport(loaded_from="ledger"), counters={"entries_done": 1}))
    write_checkout_status(checkout, CheckoutStatus(
        updated_at=1_800_000_000.0, channel="devrelease", repo="https://git.example/smartcam.git", commit="ab" * 20,
        applied_at=1.0, state="rolled_back", poll=PollResult(at=2.0, ok=True),
        head=HeadOutcome(commit="cd" * 20, state="rolled_back", at=3.0, reason="not healthy in time")))
    return {"cmds_mount": cmds, "updater_dir": updater, "checkout_mount": checkout}


def _model_ref(name="blazeface"):
    return ModelRef(name, "ab" * 32 if name == "blazeface" else "11" * 32)


@pytest.fixture
def uploader(start_delivery, target, host_files):
    """The real delivery loop with its heartbeat, posting to the loopback `target`."""
    def start(payload_format):
        queue, _ = start_delivery(target.url, heartbeat=True, payload_format=payload_format,
                                  heartbeat_interval_s=3600, **host_files)
        return queue

    return start


def send_events(queue, make_event, target, wait_until):
    queue.put(make_event(1))  # a detection, with a GPS fix
    queue.put(make_event(2, sample=True, location=None))  # a baseline sample without a fix
    queue.put(make_event(3, location=Location(-33.8688, 151.2093)))
    queue.put(camera_health_event(make_event))  # evt-6, with its `camera_health` part
    assert wait_until(lambda: sorted(target.delivered_ids()) == ["evt-1", "evt-2", "evt-3", "evt-6"])
    assert wait_until(lambda: len(target.heartbeats()) >= 1)
    return target.event_requests()


def form_parts(request):
    """The parts of a multipart/form-data body, by name: (content type, filename, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    return {part.get_param("name", header="content-disposition"): (
        part.get_content_type(), part.get_filename(), part.get_payload(decode=True)) for part in message.iter_parts()}


def test_json_events_and_heartbeats_validate(uploader, make_event, target, wait_until):
    requests = send_events(uploader("json"), make_event, target, wait_until)
    for request in requests:
        body = json.loads(request.body)
        assert_valid("event.schema.json", body)
        assert base64.b64decode(body["image"]["data"]) == JPEG
    [heartbeat] = target.heartbeats()
    document = json.loads(heartbeat.body)
    assert_valid("heartbeat.schema.json", document)
    # The real nested documents were there to be checked, not nulls.
    assert (document["version"], document["cmds"]["channel"], document["checkout"]["state"]) == (
        1, "devrelease", "rolled_back")
    assert [r["target"] for r in document["updates"]] == ["infer", "blazeface"]
    assert document["versions"]["infer"]["digest"] == "sha256:1"


def test_multipart_metadata_validates_and_the_image_part_is_the_jpeg(uploader, make_event, target, wait_until):
    for request in send_events(uploader("multipart"), make_event, target, wait_until):
        parts = form_parts(request)
        content_type, _, metadata = parts["metadata"]
        assert content_type == "application/json"
        assert_valid("event-metadata.schema.json", json.loads(metadata))
        image_type, filename, image = parts["image"]
        assert (image_type, image) == ("image/jpeg", JPEG)
        assert filename.startswith("cam-1_20261127T0600")
    assert_valid("heartbeat.schema.json", json.loads(target.heartbeats()[0].body))


def test_legacy_events_validate(uploader, make_event, target, wait_until):
    for request in send_events(uploader("legacy"), make_event, target, wait_until):
        assert_valid("legacy-event.schema.json", json.loads(request.body))


@pytest.mark.parametrize(("schema", "damage"), [
    ("event.schema.json", lambda body: body.pop("event_id")),
    ("event.schema.json", lambda body: body.update(captured_at="2026-11-27 06:00:01")),
    ("event.schema.json", lambda body: body["detections"].append({"label": "face", "score": 0.5, "box": [0, 1]})),
    ("event.schema.json", lambda body: body.update(location={"lat": 95.0, "lon": 0.0})),
    ("event.schema.json", lambda body: body["image"].pop("data")),
])
def test_the_schemas_refuse_a_damaged_body(uploader, make_event, target, wait_until, schema, damage):
    """The check above can fail: the published schema refuses what a target must not accept."""
    [request, *_] = send_events(uploader("json"), make_event, target, wait_until)
    body = json.loads(request.body)
    damage(body)
    assert not validator(schema).is_valid(body)
