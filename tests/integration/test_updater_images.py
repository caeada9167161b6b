"""Image updates against a real registry: good release, bad release (rollback), registry down, self-update.

Each test gets its own channel tag in one module-wide local registry, so the stacks never see each
other's releases. New releases are the tested images plus one small layer.
"""

import json
import logging
import os
import subprocess
import threading
import time
import uuid
from dataclasses import asdict

import pytest

import docker as docker_sdk
from smartcam.common.contracts.history import UpdateHistoryDocument
from smartcam.common.contracts.updater_state import UpdaterState
from smartcam.common.counters import Counters
from smartcam.docker_api.operations import Operations
from smartcam.docker_api.server import serve
from smartcam.updater.docker_calls import DockerCalls
from smartcam.updater.signatures import check_image, signature_tag
from tests.integration.harness import REPO, TEST_CHANNEL, compose
from tests.integration.registry import Registry, build_variant, docker

SERVICES = ("capture", "infer", "uploader", "updater", "docker-api")
FAST_POLLING = {"SMARTCAM_POLL_INTERVAL_S": "3", "SMARTCAM_POLL_JITTER": "0", "SMARTCAM_FIRST_POLL_DELAY_S": "1",
                "SMARTCAM_RETRY_INITIAL_S": "2", "SMARTCAM_HEALTH_TIMEOUT_S": "90", "SMARTCAM_FPS": "4"}


@pytest.fixture(scope="module")
def registry(images, tmp_path_factory, release_signer):
    registry = Registry(tmp_path_factory.mktemp("registry"), release_signer)
    registry.start()
    # Built under this registry's name (cached layers: seconds), so no other test session's `itest` build
    # on the same daemon can swap the images under these tests.
    result = compose("build", *SERVICES, project="smartcam-it-build", files=[REPO / "compose.yaml"], check=False,
                     env={"SMARTCAM_CHANNEL": TEST_CHANNEL, "SMARTCAM_REGISTRY": registry.prefix}, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    for service in SERVICES:
        registry.push(registry.ref(service, TEST_CHANNEL), service, TEST_CHANNEL)
    yield registry
    registry.stop()
    # Untag by name, never by id: the same image ids also carry the session's shared `itest` tags.
    leftovers = set()
    for reference in (f"{registry.prefix}smartcam/*", "smartcam-test/*"):
        for line in docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}",
                           "--filter", f"reference={reference}").splitlines():
            repository, tag, digest = line.split()
            leftovers.add(f"{repository}:{tag}" if tag != "<none>" else f"{repository}@{digest}")
    if leftovers:
        subprocess.run(["docker", "rmi", *sorted(leftovers)], capture_output=True, check=False)


@pytest.fixture
def channel_stack(registry, stack_factory):
    """A stack on a fresh channel of the local registry, polling every 3 s."""
    channel = f"itest-{uuid.uuid4().hex[:6]}"
    for service in SERVICES:
        registry.push(registry.ref(service, TEST_CHANNEL), service, channel)
    stack = stack_factory({"SMARTCAM_REGISTRY": registry.prefix, "SMARTCAM_CHANNEL": channel, **FAST_POLLING,
                           **trusting(registry)})
    stack.channel = channel
    return stack


def trusting(registry):
    """The stack's updater trusts the key the test registry's releases are signed with."""
    return {"SMARTCAM_HOST_RELEASE_SIGNERS": str(registry.signer.allowed_signers)}


def containers(stack, service):
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}",
                 "--filter", f"label=com.docker.compose.service={service}").split()
    if not ids:
        return []
    # The updater may remove a container between `ps` and `inspect`: what vanished is simply not there any more.
    result = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 and "No such object" not in result.stderr:
        raise RuntimeError(f"docker inspect failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout or "[]")


def only(stack, service):
    found = containers(stack, service)
    assert len(found) == 1, [c["Name"] for c in found]
    return found[0]


def read(stack, service, path, missing="null"):
    """A JSON file inside the service's container; `missing` (JSON) while it does not exist yet."""
    container = only(stack, service)["Id"]
    return json.loads(docker("exec", container, "sh", "-c", f"cat {path} 2>/dev/null || echo '{missing}'"))


def counter(stack, service, name):
    return read(stack, service, "/run/smartcam/health.json", '{"counters": {}}')["counters"].get(name, 0)


def history(stack):
    """The updater's history.json records, read with its model as the uploader does."""
    container = only(stack, "updater")["Id"]
    text = docker("exec", container, "sh", "-c", "cat /var/lib/smartcam/updater/history.json 2>/dev/null || echo '[]'")
    return [asdict(record) for record in UpdateHistoryDocument.from_json(text, "history.json").records]


def healthy(container):
    return container["State"].get("Health", {}).get("Status") == "healthy"


def image_id(ref):
    return docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


def wait_polls(stack, count, counter_name="polls.ok"):
    start = counter(stack, "updater", counter_name)
    stack.wait_for(lambda: counter(stack, "updater", counter_name) >= start + count, 60, f"{count} x {counter_name}")


def test_new_image_replaces_the_service_with_its_compose_configuration(channel_stack, registry):
    stack = channel_stack
    stack.up("capture", "infer", "uploader", "updater")  # infer waits for both servers' keys
    stack.wait_for(lambda: all(healthy(only(stack, s)) for s in ("capture", "infer")), 90, "a healthy pipeline")
    wait_polls(stack, 1)
    old = only(stack, "infer")
    release = build_variant(registry.ref("infer", stack.channel), f"smartcam-test/infer:{stack.channel}-2",
                            f"LABEL smartcam.test.release={stack.channel}-2")
    baseline_start, baseline_at = counter(stack, "capture", "frames.dropped"), time.monotonic()
    time.sleep(10)  # capture drops frames whenever infer is busy; this is the normal rate
    counted_from = time.monotonic()  # the count below may include frames from here on
    dropped_before = counter(stack, "capture", "frames.dropped")
    baseline_rate = (dropped_before - baseline_start) / (time.monotonic() - baseline_at)

    pushed_at = time.monotonic()
    digest = registry.push(release, "infer", stack.channel)
    new_id = image_id(release)

    def updated_and_healthy():
        found = containers(stack, "infer")
        return len(found) == 1 and found[0]["Image"] == new_id and healthy(found[0])

    stack.wait_for(updated_and_healthy, 150, "infer updated and healthy")
    push_to_healthy = time.monotonic() - pushed_at
    frames_lost = counter(stack, "capture", "frames.dropped") - dropped_before
    counted_for = time.monotonic() - counted_from  # the counter reads themselves take seconds on a busy host
    print(f"\nMEASURED push->healthy infer: {push_to_healthy:.1f}s; capture frames.dropped during it: "
          f"{frames_lost}, {frames_lost - baseline_rate * push_to_healthy:.0f} more than at the rate before the "
          f"update ({baseline_rate:.2f}/s at 4 fps: infer skips frames while busy); "
          f"updater: {history(stack)[-1]['reason']}")

    new = only(stack, "infer")
    assert new["Id"] != old["Id"]
    assert new["Name"] == old["Name"]
    # Exactly its compose configuration: labels, network aliases, hardening, mounts, env; the new image's own ENV.
    assert {k: v for k, v in new["Config"]["Labels"].items() if k.startswith("com.docker.compose.")
            and k != "com.docker.compose.image"} == {
        k: v for k, v in old["Config"]["Labels"].items() if k.startswith("com.docker.compose.")
        and k != "com.docker.compose.image"}
    assert new["Config"]["Labels"]["com.docker.compose.image"] == new_id
    assert new["Config"]["Labels"]["smartcam.test.release"] == f"{stack.channel}-2"
    assert new["Config"]["Image"] == registry.ref("infer", stack.channel)
    for key in ("ReadonlyRootfs", "CapDrop", "SecurityOpt", "RestartPolicy", "Tmpfs", "Init", "NetworkMode",
                "LogConfig", "Binds", "Mounts"):
        assert new["HostConfig"].get(key) == old["HostConfig"].get(key), key
    assert new["Config"]["User"] == "10001:10001"
    assert set(old["Config"]["Env"]) == set(new["Config"]["Env"])
    assert "infer" in new["NetworkSettings"]["Networks"][f"{stack.project}_pipeline"]["Aliases"]
    assert old["Id"][:12] not in new["NetworkSettings"]["Networks"][f"{stack.project}_pipeline"]["Aliases"]
    # History, state for the heartbeat, and the previous image kept for rollback.
    record = history(stack)[-1]
    assert (record["kind"], record["target"], record["to_ref"], record["result"]) == (
        "service", "infer", digest, "updated")
    state = UpdaterState.from_raw(read(stack, "updater", "/var/lib/smartcam/updater/state.json"), "state.json")
    assert (state.version, state.services["infer"].digest, state.services["infer"].version) == (1, digest, "dev")
    assert image_id(old["Image"]) == old["Image"]
    # The stack still works end to end on the new container: infer keeps taking frames.
    taken = counter(stack, "capture", "frames.sent")
    stack.wait_for(lambda: counter(stack, "capture", "frames.sent") > taken + 4, 30, "infer taking frames")
    assert frames_lost <= 4 * counted_for + 8  # capture kept running (4 fps) and counted every lost frame
    # Compose sees the updated container as its own, up to date: `up` (as at boot) leaves it alone.
    stack.up("infer")
    assert only(stack, "infer")["Id"] == new["Id"]
    assert "infer" in stack.run("ps", "--services", "--status", "running").stdout.split()


def test_unhealthy_release_is_rolled_back_and_never_pulled_again_and_registry_outage_changes_nothing(
        channel_stack, registry):
    stack = channel_stack
    stack.up("capture", "updater")
    stack.wait_for(lambda: healthy(only(stack, "capture")), 90, "a healthy capture")
    wait_polls(stack, 1)
    old = only(stack, "capture")

    bad = build_variant(registry.ref("capture", stack.channel), f"smartcam-test/capture:{stack.channel}-bad",
                        'HEALTHCHECK --interval=2s --timeout=2s --retries=1 CMD ["false"]')
    digest = registry.push(bad, "capture", stack.channel)
    stack.wait_for(lambda: any(r["to_ref"] == digest for r in history(stack)), 120, "the update attempt")
    record = [r for r in history(stack) if r["to_ref"] == digest][-1]
    assert (record["kind"], record["target"], record["result"]) == ("service", "capture", "rolled_back")
    assert "healthcheck failed" in record["reason"]

    stack.wait_for(lambda: healthy(only(stack, "capture")), 60, "the old capture healthy again")
    restored = only(stack, "capture")
    assert restored["Id"] == old["Id"]
    assert restored["Name"] == old["Name"]
    assert restored["Image"] == old["Image"]
    assert image_id(registry.ref("capture", stack.channel)) == old["Image"]  # compose would recreate the same
    bad_list = read(stack, "updater", "/var/lib/smartcam/updater/bad-digests.json")
    assert digest in bad_list[f"{registry.prefix}smartcam/capture"]
    # Never pulled again: the rejected image was removed; more polls bring no new attempt and no image back.
    def rejected_image_present():
        return subprocess.run(["docker", "image", "inspect", f"{registry.prefix}smartcam/capture@{digest}"],
                              capture_output=True, check=False).returncode == 0

    assert not rejected_image_present()
    wait_polls(stack, 3)
    assert not rejected_image_present()
    assert [r["to_ref"] for r in history(stack)].count(digest) == 1

    # Registry down: nothing changes, nothing crashes, one log line for the whole outage.
    updater = only(stack, "updater")["Id"]
    registry.stop()
    try:
        wait_polls(stack, 3, "polls.failed")
        assert only(stack, "updater")["Id"] == updater
        assert only(stack, "capture")["Id"] == old["Id"]
        assert stack.logs("updater").count("cannot check") == 1
    finally:
        registry.start()
    stack.wait_for(lambda: "registry reachable again" in stack.logs("updater"), 60, "the updater noticing")
    assert only(stack, "updater")["State"]["Running"]


PROBE = """
import json, urllib.request, urllib.error
results = {}
for method, path in (("GET", "/containers"), ("POST", "/containers/create"), ("GET", "/v1.41/containers/json"),
                     ("POST", "/v1.41/containers/x/exec"), ("GET", "/volumes")):
    try:
        results[f"{method} {path}"] = urllib.request.urlopen(urllib.request.Request(
            "http://docker-api:2375" + path, method=method, data=b"" if method == "POST" else None), timeout=20).status
    except urllib.error.HTTPError as error:
        results[f"{method} {path}"] = error.code
print(json.dumps(results))
"""



def test_a_release_without_a_valid_signature_is_refused_and_the_service_keeps_its_image(
        channel_stack, registry, stranger_signer):
    """Unsigned, signed by a key the device does not trust, signed for another digest: never pulled, each refusal
    recorded with its reason; once the publisher signs the same digest it is applied without a new push."""
    stack = channel_stack
    stack.up("capture", "updater")
    stack.wait_for(lambda: healthy(only(stack, "capture")), 90, "a healthy capture")
    wait_polls(stack, 1)
    old = only(stack, "capture")
    repository = f"{registry.prefix}smartcam/capture"
    release = build_variant(registry.ref("capture", stack.channel), f"smartcam-test/capture:{stack.channel}-unsigned",
                            f"LABEL smartcam.test.release={stack.channel}-unsigned")
    digest = registry.push(release, "capture", stack.channel, sign=False)
    docker("rmi", release, registry.ref("capture", stack.channel))  # only the registry has it now

    def refused(problem):
        stack.wait_for(lambda: any(problem in r["reason"] for r in history(stack) if r["to_ref"] == digest), 60,
                       f"a refusal: {problem}")

    refused("no signature")
    stranger_signer.sign_image(repository, digest)
    refused("not signed by a key")
    # The publisher's genuine signature of the image that runs now, copied to this digest's signature tag.
    docker("pull", f"{repository}:{signature_tag(old_digest(old, repository))}")
    docker("tag", f"{repository}:{signature_tag(old_digest(old, repository))}", f"{repository}:{signature_tag(digest)}")
    docker("push", f"{repository}:{signature_tag(digest)}")
    refused(f"the signature is for {old_digest(old, repository)}, not for {digest}")

    records = [r for r in history(stack) if r["to_ref"] == digest]
    assert [(r["kind"], r["target"], r["result"]) for r in records] == [("service", "capture", "rejected")] * 3
    assert all("scripts/publish --sign-key" in r["reason"] for r in records)  # the fix is named
    # counted at every poll (the health file may lag the history by one poll)
    stack.wait_for(lambda: counter(stack, "updater", "updates.unsigned") >= 3, 30, "three refusals counted")
    assert only(stack, "capture")["Id"] == old["Id"]  # the service kept its image, never stopped
    assert subprocess.run(["docker", "image", "inspect", f"{repository}@{digest}"], capture_output=True,
                          check=False).returncode != 0  # and the release was never pulled

    registry.signer.sign_image(repository, digest)  # signed now: the same tag, no new push
    stack.wait_for(lambda: any(r["to_ref"] == digest and r["result"] == "updated" for r in history(stack)), 120,
                   "the signed release applied")


def old_digest(container, repository):
    return next(d.partition("@")[2] for d in json.loads(docker("image", "inspect", "--format",
                                                               "{{json .RepoDigests}}", container["Image"]))
                if d.startswith(f"{repository}@"))


def test_updater_updates_itself_and_exactly_one_updater_remains(channel_stack, registry):
    stack = channel_stack
    stack.up("updater")
    wait_polls(stack, 1)
    release = build_variant(registry.ref("updater", stack.channel), f"smartcam-test/updater:{stack.channel}-2",
                            f"LABEL smartcam.test.release={stack.channel}-2")
    pushed_at = time.monotonic()
    digest = registry.push(release, "updater", stack.channel)
    new_id = image_id(release)

    def handed_over():
        found = containers(stack, "updater")
        return len(found) == 1 and found[0]["Image"] == new_id and healthy(found[0])

    stack.wait_for(handed_over, 150, "a single healthy updater on the new image")
    print(f"\nMEASURED push->healthy updater (self-update): {time.monotonic() - pushed_at:.1f}s")
    updater = only(stack, "updater")
    assert updater["Name"] == f"/{stack.project}-updater-1"
    assert not docker("ps", "-aq", "--filter", "name=smartcam-updater-selftest").strip()
    assert not [c for c in containers(stack, "updater") if c["Name"].endswith(".previous")]
    record = [r for r in history(stack) if r["to_ref"] == digest][-1]
    assert (record["kind"], record["target"], record["result"]) == ("updater", "updater", "updated")
    # The successor works: it keeps polling, and reaches Docker only through docker-api.
    wait_polls(stack, 2)
    # docker-api is internal (no route out); egress is for model downloads.
    assert set(updater["NetworkSettings"]["Networks"]) == {f"{stack.project}_docker-api", f"{stack.project}_egress"}
    results = json.loads(docker("exec", updater["Id"], "python", "-c", PROBE))
    assert results == {"GET /containers": 200, "POST /containers/create": 405, "GET /v1.41/containers/json": 404,
                       "POST /v1.41/containers/x/exec": 404, "GET /volumes": 404}  # the rest: test_docker_api_attacks


def test_no_pull_without_free_disk(registry, stack_factory):
    channel = f"itest-{uuid.uuid4().hex[:6]}"
    for service in ("updater", "docker-api"):
        registry.push(registry.ref(service, TEST_CHANNEL), service, channel)
    stack = stack_factory({"SMARTCAM_REGISTRY": registry.prefix, "SMARTCAM_CHANNEL": channel, **FAST_POLLING,
                           "SMARTCAM_MIN_FREE_DISK_MB": str(2**40), **trusting(registry)})
    stack.up("updater")
    wait_polls(stack, 1)
    before = only(stack, "updater")
    release = build_variant(registry.ref("updater", channel), f"smartcam-test/updater:{channel}-disk",
                            f"LABEL smartcam.test.release={channel}-disk")
    digest = registry.push(release, "updater", channel)
    docker("rmi", release, registry.ref("updater", channel))  # only the registry has it now
    stack.wait_for(lambda: any(r["to_ref"] == digest for r in history(stack)), 60, "the refused attempt")
    wait_polls(stack, 2)
    records = [r for r in history(stack) if r["to_ref"] == digest]
    assert [(r["result"], r["kind"]) for r in records] == [("failed", "updater")]  # recorded once, not per poll
    assert "not pulled: only" in records[0]["reason"]
    assert counter(stack, "updater", "updates.failed") >= 2  # counted on every poll
    assert only(stack, "updater")["Id"] == before["Id"]
    assert subprocess.run(["docker", "image", "inspect", f"{registry.prefix}smartcam/updater@{digest}"],
                          capture_output=True, check=False).returncode != 0
    assert stack.logs("updater").count("not pulled: only") == 1


def test_publish_pushes_every_image_under_the_channel_and_the_commit_tag_and_signs_it(registry):
    channel = f"itest-pub-{uuid.uuid4().hex[:6]}"
    result = subprocess.run([str(REPO / "scripts/publish"), "--channel", channel, "--allow-dirty",
                             "--sign-key", str(registry.signer.key)],
                            env={**os.environ, "SMARTCAM_REGISTRY": registry.prefix}, capture_output=True,
                            text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    commit_tag = f"git-{commit[:12]}"
    for service in ("capture", "infer", "uploader", "updater", "docker-api", "demo-sink"):
        digest = registry.digest(service, channel)
        assert digest is not None, service
        assert registry.digest(service, commit_tag) == digest, service
        assert f"{registry.ref(service, channel)}@{digest}" in result.stdout
        env = json.loads(docker("image", "inspect", "--format", "{{json .Config.Env}}", registry.ref(service, channel)))
        assert f"SMARTCAM_VERSION={commit_tag}" in env, service
        # signed as a device checks it: the signature image's labels, by the key the device trusts
        signature_ref = registry.ref(service, signature_tag(digest))
        docker("pull", signature_ref)
        labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", signature_ref))
        docker("rmi", signature_ref)
        check_image(labels, f"{registry.prefix}smartcam/{service}", digest, registry.signer.allowed_signers)



def test_superseded_images_are_removed_keeping_current_and_previous(registry):
    """Three pulled generations of one repository: after an update only the current and previous stay."""
    client = docker_sdk.from_env()
    repository = f"{registry.prefix}smartcam/prune-test"
    pulled = []
    for generation in range(3):
        local = build_variant("debian:bookworm-slim", f"smartcam-test/prune:{generation}",
                              f"LABEL smartcam.test.generation={generation}-{uuid.uuid4().hex}")
        digest = registry.push(local, "prune-test", "chan")
        docker("rmi", local, registry.ref("prune-test", "chan"))
        image = client.images.pull(repository, tag=digest)  # as the updater pulls: by digest, then tag
        image.tag(repository, "chan")
        pulled.append(image.id)
    operations = Operations.connect(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), "none",
                                    registry.prefix, "", logging.getLogger("test"))
    server = serve(0, operations, logging.getLogger("test"), Counters(), host="127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # the updater's call, through docker-api's code, to this daemon
        removed = DockerCalls.connect(f"http://127.0.0.1:{server.server_address[1]}").prune_images(
            repository, {pulled[2], pulled[1]})
    finally:
        server.shutdown()
    left = {image.id for image in client.images.list(name=repository)}
    assert removed == 1
    assert left == {pulled[1], pulled[2]}
