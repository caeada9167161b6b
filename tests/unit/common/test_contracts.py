"""The documents between containers: each written by its real writer and read by its real reader, versioned.

For every document: a round trip; a file as the previous release wrote it (no `version`) reads as version 1;
a newer compatible file (same version, fields this reader does not know) still reads; a newer major version is
refused with a clear error naming the file, both versions and the fix, never a KeyError.
"""

import json
import logging
from dataclasses import asdict
from pathlib import Path

import pytest

from smartcam.cmds.status import write_status as write_cmds_status
from smartcam.common.contracts.base import DocumentError, DocumentVersionError, read_document
from smartcam.common.contracts.checkout_status import CheckoutStatus, HeadOutcome, read_status
from smartcam.common.contracts.checkout_status import write_status as write_checkout_status
from smartcam.common.contracts.cmds_status import CmdsStatus, LedgerReport
from smartcam.common.contracts.heartbeat import Heartbeat
from smartcam.common.contracts.history import UpdateHistoryDocument
from smartcam.common.contracts.model_exchange import Candidate, read_candidate, read_model_state, write_candidate
from smartcam.common.contracts.pipeline_status import CaptureStatus, GpsStatus, InferStatus
from smartcam.common.contracts.schemas import differences, render
from smartcam.common.contracts.updater_state import UpdaterState
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateRecord
from smartcam.common.status_file import StatusWriter
from smartcam.common.wire import Ack, ModelRef, WireError, decode, encode
from smartcam.infer.candidates import CandidateWatcher
from smartcam.infer.model_state import ModelState
from smartcam.updater.models.infer_state import read_infer_report
from smartcam.updater.state import RunningService, write_state
from smartcam.uploader.host_files import read_host_facts

SCHEMAS = Path(__file__).resolve().parents[3] / "docs/schemas"
LOGGER = logging.getLogger("test.contracts")
SHA = "ab" * 32


# -- each document: its real writer, its real reader, and what the reader returned ---------------------------------


def write_history(folder):
    history = UpdateHistory(folder / "history.json")
    history.append(UpdateRecord("service", "infer", "sha256:0", "sha256:1", "updated", "healthcheck passed"))
    history.append(UpdateRecord("model", "face", None, SHA, "rejected", "low recall"))
    return folder / "history.json"


def read_history(path):
    return [asdict(record) for record in UpdateHistory(path).records()]


def write_updater_state(folder):
    write_state(folder / "state.json", {"infer": RunningService("r/infer:master", "sha256:1", "git-1")})
    return folder / "state.json"


def read_updater_state(path):
    return read_document(UpdaterState, path).model_dump()


def write_candidate_file(folder):
    write_candidate(folder, Candidate(id="c1", name="face", sha256=SHA, dir=SHA, from_sha256=None,
                                      published_at=1_800_000_000.0, manifest_digest="cd" * 32))
    return folder / "candidate.json"


def read_candidate_file(path):
    return read_candidate(path.parent).model_dump()


def write_model_state(folder):
    ModelState(folder, LOGGER).accepted("c1", ModelRef("face", SHA), folder / SHA, "trial passed",
                                        ModelRef("old", "11" * 32))
    return folder / "model-state.json"


def read_model_state_file(path):
    return read_model_state(path.parent).model_dump()  # what infer (at start) and the updater read it with


def write_cmds(folder):
    write_cmds_status(folder / "status.json", CmdsStatus(updated_at=1.0, channel="release", source="file:///c",
                                                         ledger=LedgerReport(loaded_from="new")))
    return folder / "status.json"


def read_cmds(path):
    return read_document(CmdsStatus, path).model_dump()


def write_checkout(folder):
    write_checkout_status(folder, CheckoutStatus(updated_at=1.0, channel="release", repo="git://x", state="rejected",
                                                 head=HeadOutcome(commit="cd" * 20, state="rejected", at=1.0)))
    return folder / "status.json"


def read_checkout(path):
    return read_status(path.parent).model_dump()


def write_heartbeat(folder):
    heartbeat = Heartbeat(heartbeat_id="hb-cam-1", camera_id="cam-1", channel="release",
                          created_at="2026-11-27T03:30:15.123Z", uptime_s={"uploader": 1.0, "host": None},
                          versions={}, model=None, queue={"queued": 0, "queued_bytes": 0, "oldest_queued_age_s": None,
                                                          "dead_letter": 0, "budget_bytes": 1},
                          counts={"received": 0, "delivered": 0, "retried": 0, "evicted": {}, "dead_lettered": 0,
                                  "refused": 0, "duplicates": 0},
                          disk={"free_bytes": 1, "total_bytes": 2}, last_errors=[], cmds=None, checkout=None,
                          updates=None, problems=[])
    (folder / "heartbeat.json").write_text(json.dumps(heartbeat.model_dump(mode="json")))
    return folder / "heartbeat.json"


def read_heartbeat(path):
    return Heartbeat.from_json(path.read_bytes(), str(path)).model_dump()


def _status_writer(document):
    def write(folder):
        StatusWriter(folder, lambda _now: document, LOGGER, Counters()).maybe_write()  # as capture and infer do
        return folder / "status.json"

    return write


def _status_reader(model):
    def read(path):
        return read_document(model, path).model_dump()  # as the uploader reads them for the heartbeat

    return read


CAPTURE_STATUS = CaptureStatus(written_at=1.0, fps=2.0, frames_captured=3, frames_sent=2, frames_dropped=1,
                               gps=GpsStatus(source="gpsd at gpsd:2947", fix=True, fix_age_s=0.5, satellites=7))
INFER_STATUS = InferStatus(written_at=1.0, fps=None, frames_inferred=2, frames_dropped=0, events_sent=1,
                           events_unacknowledged=1, camera_health=[])

DOCUMENTS = {
    "history.json": (write_history, read_history),
    "state.json": (write_updater_state, read_updater_state),
    "candidate.json": (write_candidate_file, read_candidate_file),
    "model-state.json": (write_model_state, read_model_state_file),
    "cmds status.json": (write_cmds, read_cmds),
    "checkout status.json": (write_checkout, read_checkout),
    "heartbeat": (write_heartbeat, read_heartbeat),
    "capture status.json": (_status_writer(CAPTURE_STATUS), _status_reader(CaptureStatus)),
    "infer status.json": (_status_writer(INFER_STATUS), _status_reader(InferStatus)),
}
documents = pytest.mark.parametrize(("write", "read"), DOCUMENTS.values(), ids=DOCUMENTS.keys())


def rewrite(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@documents
def test_the_writer_stamps_version_1_and_the_reader_reads_what_it_wrote(tmp_path, write, read):
    path = write(tmp_path)
    assert json.loads(path.read_text())["version"] == 1
    first = read(path)
    assert first  # something real was read
    path.write_text(path.read_text())  # read again from the same bytes: the same document
    assert read(path) == first


@documents
def test_a_file_without_version_as_the_previous_release_wrote_it_reads_as_version_1(tmp_path, write, read):
    path = write(tmp_path)
    expected = read(path)
    rewrite(path, lambda document: document.pop("version"))
    assert read(path) == expected


@documents
def test_unknown_fields_of_a_compatible_writer_are_ignored(tmp_path, write, read):
    path = write(tmp_path)
    expected = read(path)
    rewrite(path, lambda document: document.update(added_by_a_newer_minor_release={"x": 1}))
    assert read(path) == expected


@documents
def test_a_newer_major_version_is_refused_naming_the_file_the_versions_and_the_fix(tmp_path, write, read):
    path = write(tmp_path)
    rewrite(path, lambda document: document.update(version=2, renamed_everything=True))
    with pytest.raises(DocumentVersionError) as refused:
        read(path)
    message = str(refused.value)
    assert str(path) in message
    assert "version 2" in message
    assert "up to version 1" in message
    assert "written by a newer smartcam: update this service" in message


@documents
@pytest.mark.parametrize("version", ["2", None, 0, True])
def test_an_unreadable_version_is_a_clear_document_error(tmp_path, write, read, version):
    path = write(tmp_path)
    rewrite(path, lambda document: document.update(version=version))
    with pytest.raises(DocumentError, match="unreadable version"):
        read(path)


def test_history_as_a_bare_list_reads_as_version_1_and_is_rewritten_versioned(tmp_path):
    path = tmp_path / "history.json"
    old = [{"kind": "service", "target": "infer", "from_ref": None, "to_ref": "sha256:1", "result": "updated",
            "reason": "ok", "at": "2026-11-27T03:30:15Z"}]
    path.write_text(json.dumps(old))  # what every updater and follower wrote until now
    history = UpdateHistory(path)
    assert [asdict(r) for r in history.records()] == old
    history.append(UpdateRecord("model", "face", None, SHA, "updated", "accepted"))
    document = UpdateHistoryDocument.from_json(path.read_text(), str(path))
    assert (json.loads(path.read_text())["version"], [r.target for r in document.records]) == (1, ["infer", "face"])


def test_a_history_written_by_a_newer_updater_is_set_aside_not_lost_and_not_fatal(tmp_path, caplog):
    path = write_history(tmp_path)
    rewrite(path, lambda document: document.update(version=2))
    newer = path.read_text()
    with caplog.at_level(logging.ERROR):
        UpdateHistory(path).append(UpdateRecord("service", "capture", None, "sha256:2", "updated", "ok"))
    assert (tmp_path / "history.json.damaged").read_text() == newer
    assert [r.target for r in UpdateHistory(path).records()] == ["capture"]
    assert "is newer than this service" in caplog.text


def test_the_uploader_names_a_newer_file_in_its_heartbeat_problems_and_goes_on(tmp_path):
    write_updater_state(tmp_path)
    rewrite(tmp_path / "state.json", lambda document: document.update(version=3))
    write_history(tmp_path)
    facts = read_host_facts(tmp_path / "no-cmds.json", tmp_path, tmp_path / "no-checkout")
    [problem] = facts.problems
    assert str(tmp_path / "state.json") in problem
    assert "update this service" in problem
    assert facts.services == {}
    assert [r.target for r in facts.updates] == ["infer", "face"]  # the other files are still used


def test_infer_logs_a_newer_offer_and_ignores_it(tmp_path, caplog):
    write_candidate_file(tmp_path)
    rewrite(tmp_path / "candidate.json", lambda document: document.update(version=2))
    with caplog.at_level(logging.ERROR):
        assert CandidateWatcher(tmp_path, LOGGER).changed() is None
    assert "update this service" in caplog.text


def test_the_updater_is_told_when_infers_report_is_newer_and_reads_an_older_one(tmp_path):
    write_model_state(tmp_path)
    assert read_infer_report(tmp_path).active_sha256 == SHA
    rewrite(tmp_path / "model-state.json", lambda document: document.pop("version"))
    assert read_infer_report(tmp_path).verdicts["c1"].result == "accepted"
    rewrite(tmp_path / "model-state.json", lambda document: document.update(version=2))
    with pytest.raises(DocumentVersionError, match="update this service"):
        read_infer_report(tmp_path)


def test_infer_starts_from_the_built_in_model_when_its_state_is_newer(tmp_path, caplog):
    write_model_state(tmp_path)
    rewrite(tmp_path / "model-state.json", lambda document: document.update(version=2))
    with caplog.at_level(logging.WARNING):
        assert ModelState(tmp_path, LOGGER).active is None
    assert "update this service" in caplog.text


# -- the wire header: compatible with the previous release in both directions ----------------------------------------

# Exactly what the previous release's encoder sent (captured from it), byte for byte.
PREVIOUS_RELEASE_ACK = b'{"smartcam":1,"type":"ack","event_id":"e1","stored":false,"reason":"disk full"}'


def test_the_header_is_what_the_previous_release_sent_and_reads():
    assert encode(Ack("e1", False, "disk full")) == [PREVIOUS_RELEASE_ACK]
    assert decode([PREVIOUS_RELEASE_ACK]) == Ack("e1", False, "disk full")


def test_a_header_with_a_field_this_release_does_not_know_is_read():
    header = json.loads(PREVIOUS_RELEASE_ACK) | {"added_later": [1, 2]}
    assert decode([json.dumps(header).encode()]) == Ack("e1", False, "disk full")


def test_a_newer_header_version_is_rejected_with_the_fix():
    header = json.loads(PREVIOUS_RELEASE_ACK) | {"smartcam": 2}
    with pytest.raises(WireError) as rejected:
        decode([json.dumps(header).encode()])
    assert rejected.value.kind == "version"
    assert "written by a newer smartcam: update this service" in str(rejected.value)


# -- the published schemas --------------------------------------------------------------------------------------------


def test_the_committed_schemas_are_generated_from_the_models():
    assert differences(SCHEMAS) == [], "docs/schemas/ differs from the models: run scripts/sync-schemas"
    assert sorted(path.name for path in SCHEMAS.glob("*.json")) == sorted(render())


def test_a_schema_that_drifted_from_its_model_is_found(tmp_path):
    for name, text in render().items():
        (tmp_path / name).write_text(text)
    edited = json.loads((tmp_path / "event.schema.json").read_text())
    edited["required"].remove("sample")
    (tmp_path / "event.schema.json").write_text(json.dumps(edited, indent=2) + "\n")
    assert differences(tmp_path) == ["event.schema.json"]
