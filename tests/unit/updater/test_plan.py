"""The updater's plan: which steps follow from what runs, what the registry offers, the bad-version
memory, free disk and what this round's steps found out. No Docker: plain facts in, exact steps out."""

from dataclasses import replace

import pytest

from smartcam.updater import plan
from smartcam.updater.plan import (
    Attempt,
    CheckSignature,
    Current,
    Fail,
    Finish,
    HandOver,
    HoldForDisk,
    HoldForWindow,
    Prune,
    Pull,
    RefuseUnsigned,
    RegistryError,
    Reject,
    RemoveOld,
    Rollback,
    SelfTest,
    SetAside,
    Situation,
    Skip,
    StartNew,
    Verdict,
    WaitHealthy,
)

MiB = 2**20
SERVICES = ("infer", "uploader", "capture")
NEW = "sha256:new"


def situation(offered=None, running=None, bad=None, free_mib=10_000, attempts=None, built_locally=()):
    """Every service and the updater running at sha256:old-<name>, 100 MiB images; the registry offers the same
    unless `offered` says otherwise."""
    names = [*SERVICES, "updater"]
    return Situation(
        services=SERVICES,
        running=running if running is not None else {
            s: Current(s, None if s in built_locally else f"sha256:old-{s}", 100 * MiB) for s in names},
        offered={**{s: f"sha256:old-{s}" for s in names}, **(offered or {})},
        bad=bad or {},
        free_disk_bytes=free_mib * MiB,
        min_free_disk_bytes=300 * MiB,
        attempts=attempts or {})


SIGNED = Verdict(True, "signed")


def update(service):
    """The first step of an update: the image's signature, before anything is pulled."""
    return [CheckSignature(service, NEW)]


def after_signature(service):
    return [Pull(service, NEW), SetAside(service, NEW, stop=True), StartNew(service, NEW), WaitHealthy(service, NEW)]


BAD_DETAIL = f"still at {NEW}, which failed here before; waiting for a newer one"

ROUND_STARTS = [
    ("nothing new", situation(), []),
    ("new digest for one service", situation({"infer": NEW}), update("infer")),
    ("locally built image (no digest) gets the channel's", situation(
        {"capture": NEW}, built_locally={"capture"}), update("capture")),
    ("digest in the bad list", situation({"infer": NEW}, bad={"infer": frozenset({NEW})}),
     [Skip("infer", "bad_digest", BAD_DETAIL, NEW)]),
    ("a bad digest of another service does not hold this one", situation(
        {"infer": NEW}, bad={"capture": frozenset({NEW})}), update("infer")),
    ("not enough free disk: image size plus the reserve", situation({"infer": NEW}, free_mib=399),
     [HoldForDisk("infer", NEW, 400 * MiB, 399 * MiB)]),
    ("exactly enough free disk", situation({"infer": NEW}, free_mib=400), update("infer")),
    ("services in their order, the updater last", situation({"updater": NEW, "capture": NEW, "infer": NEW}),
     [*update("infer"), *update("capture"), *update("updater")]),
    ("a configured service missing", situation({"infer": NEW}, running={"infer": Current("infer", "sha256:o", 0)}),
     [*update("infer"), Skip("uploader", "not_running", "no running uploader container of this project to update"),
      Skip("capture", "not_running", "no running capture container of this project to update"),
      Skip("updater", "not_running", "no running updater container of this project to update")]),
    ("registry error for one service, the others proceed", situation(
        {"infer": RegistryError("cannot check infer"), "capture": NEW, "updater": RegistryError("cannot check me")}),
     [Skip("infer", "registry", "cannot check infer"), *update("capture"),
      Skip("updater", "registry", "cannot check me")]),
]


OPENS = 1_800_000_000.0


def closed(facts):
    """The same facts outside the maintenance window, which opens next at OPENS."""
    return replace(facts, window_open=False, window_opens_at=OPENS)


WINDOW = [
    ("window closed: nothing new, nothing to hold", closed(situation()), []),
    ("window closed: a new digest is held, pending", closed(situation({"infer": NEW})),
     [HoldForWindow("infer", NEW, OPENS)]),
    ("window closed: every service with a new digest is held, the updater too",
     closed(situation({"updater": NEW, "capture": NEW})),
     [HoldForWindow("capture", NEW, OPENS), HoldForWindow("updater", NEW, OPENS)]),
    ("window closed: a bad digest is still reported as bad, not pending",
     closed(situation({"infer": NEW}, bad={"infer": frozenset({NEW})})),
     [Skip("infer", "bad_digest", BAD_DETAIL, NEW)]),
    ("window closed and too little disk: the window is what it waits for",
     closed(situation({"infer": NEW}, free_mib=1)), [HoldForWindow("infer", NEW, OPENS)]),
    ("window closed: registry errors are still reported",
     closed(situation({"infer": RegistryError("cannot check infer")})),
     [Skip("infer", "registry", "cannot check infer")]),
    ("window open: the update starts", replace(situation({"infer": NEW}), window_open=True, window_opens_at=None),
     update("infer")),
    ("window closes mid-update: the update runs to its end",
     closed(situation({"infer": NEW}, attempts={"infer": Attempt(NEW, signature=SIGNED, pulled=True)})),
     [SetAside("infer", NEW, stop=True), StartNew("infer", NEW), WaitHealthy("infer", NEW)]),
]


@pytest.mark.parametrize(("case", "facts", "steps"), WINDOW, ids=[c[0] for c in WINDOW])
def test_the_maintenance_window(case, facts, steps):
    assert plan.plan(facts) == steps


@pytest.mark.parametrize(("case", "facts", "steps"), ROUND_STARTS, ids=[c[0] for c in ROUND_STARTS])
def test_round_start(case, facts, steps):
    assert plan.plan(facts) == steps


def progress(service, **facts):
    """`service` offered NEW, with this round's attempt at it so far (its signature checked and good)."""
    return situation({service: NEW}, attempts={service: Attempt(NEW, **{"signature": SIGNED, **facts})})


SWAPPED = {"pulled": True, "set_aside": True, "started": True}
UNHEALTHY = Verdict(False, "healthcheck failed: probe said no")
HEALTHY = Verdict(True, "healthcheck passed")

UNSIGNED = Verdict(False, "no signature r:sha256-new.sig in the registry (unsigned release)")

CONTINUATIONS = [
    ("signature good: pulled and swapped", progress("infer"), after_signature("infer")),
    ("signature good, updater: pulled and self-tested", progress("updater"),
     [Pull("updater", NEW), SelfTest("updater", NEW)]),
    ("unsigned: refused before anything is pulled", progress("infer", signature=UNSIGNED),
     [RefuseUnsigned("infer", NEW, UNSIGNED.reason)]),
    ("unsigned updater: refused the same way", progress("updater", signature=UNSIGNED),
     [RefuseUnsigned("updater", NEW, UNSIGNED.reason)]),
    ("pulled", progress("infer", pulled=True),
     [SetAside("infer", NEW, stop=True), StartNew("infer", NEW), WaitHealthy("infer", NEW)]),
    ("started", progress("infer", **SWAPPED), [WaitHealthy("infer", NEW)]),
    ("unhealthy: roll back, restarting the old container", progress("infer", **SWAPPED, health=UNHEALTHY),
     [Rollback("infer", NEW, restart_old=True)]),
    ("rolled back: digest rejected", progress("infer", **SWAPPED, health=UNHEALTHY, rolled_back=True),
     [Reject("infer", NEW, "rolled_back", "healthcheck failed: probe said no")]),
    ("rollback itself failed", progress("infer", **SWAPPED, health=UNHEALTHY, rolled_back=True,
                                        rollback_problem="rollback failed: gone"),
     [Reject("infer", NEW, "failed", "healthcheck failed: probe said no; rollback failed: gone")]),
    ("new container could not start", progress(
        "infer", pulled=True, set_aside=True, health=Verdict(False, "could not start the new container: x")),
     [Rollback("infer", NEW, restart_old=True)]),
    ("old container could not be set aside", progress("infer", pulled=True, set_aside_error="409 busy"),
     [Rollback("infer", NEW, restart_old=True)]),
    ("... and is back", progress("infer", pulled=True, set_aside_error="409 busy", rolled_back=True),
     [Reject("infer", NEW, "rolled_back", "could not set the old container aside: 409 busy")]),
    ("healthy: old container goes, superseded images pruned", progress("infer", **SWAPPED, health=HEALTHY),
     [RemoveOld("infer"), Prune("infer", NEW)]),
    ("old container removed", progress("infer", **SWAPPED, health=HEALTHY, old_removed=True), [Prune("infer", NEW)]),
    ("pruned: recorded", progress("infer", **SWAPPED, health=HEALTHY, old_removed=True, healthy_after_s=12.4,
                                  pruned=2),
     [Finish("infer", NEW, "healthy 12s after the old container stopped", 2)]),
    ("recorded: done", progress("infer", **SWAPPED, health=HEALTHY, old_removed=True, pruned=2, recorded=True), []),
    ("a step failed", progress("infer", failure=("pull", "pull failed: 404")),
     [Fail("infer", NEW, "pull", "pull failed: 404")]),
    ("updater pulled: self-test first", progress("updater", pulled=True), [SelfTest("updater", NEW)]),
    ("updater self-test passed: the successor starts next to it", progress(
        "updater", pulled=True, self_test=Verdict(True, "self-test passed")),
     [SetAside("updater", NEW, stop=False), StartNew("updater", NEW), WaitHealthy("updater", NEW)]),
    ("updater self-test failed: only the tag goes back", progress(
        "updater", pulled=True, self_test=Verdict(False, "self-test failed (exit 1): boom")),
     [Rollback("updater", NEW, restart_old=False)]),
    ("... and the digest is rejected", progress(
        "updater", pulled=True, self_test=Verdict(False, "self-test failed (exit 1): boom"), rolled_back=True),
     [Reject("updater", NEW, "rejected", "self-test failed (exit 1): boom")]),
    ("successor unhealthy: this updater never stopped", progress(
        "updater", self_test=HEALTHY, **SWAPPED, health=UNHEALTHY),
     [Rollback("updater", NEW, restart_old=False)]),
    ("updater could not rename itself: retried next poll", progress(
        "updater", pulled=True, self_test=HEALTHY, set_aside_error="409"),
     [Fail("updater", NEW, "docker", "update interrupted: 409")]),
    ("successor healthy: no old container to remove before the record", progress(
        "updater", self_test=HEALTHY, **SWAPPED, health=HEALTHY), [Prune("updater", NEW)]),
    ("successor recorded, then this updater hands over", progress(
        "updater", self_test=HEALTHY, **SWAPPED, health=HEALTHY, pruned=0),
     [Finish("updater", NEW, "successor healthy", 0), HandOver("updater")]),
]


@pytest.mark.parametrize(("case", "facts", "steps"), CONTINUATIONS, ids=[c[0] for c in CONTINUATIONS])
def test_continuation(case, facts, steps):
    service = next(iter(facts.attempts))
    assert plan.next_steps(service, facts) == steps


def test_free_disk_is_not_checked_again_once_pulled():
    """The pull itself takes the space; the rest of the update must not be held for it."""
    facts = replace(progress("infer", pulled=True), free_disk_bytes=0)
    assert plan.next_steps("infer", facts)[0] == SetAside("infer", NEW, stop=True)


def test_a_pull_that_raises_is_a_pull_failure_anything_else_interrupts_the_update():
    assert plan.failure(Pull("infer", NEW), "404") == ("pull", "pull failed: 404")
    assert plan.failure(Prune("infer", NEW), "500") == ("docker", "update interrupted: 500")
    assert plan.failure(CheckSignature("infer", NEW), "timeout") == (
        "pull", "cannot fetch the image's signature: timeout")


def test_a_refusal_names_the_problem_and_the_fix():
    reason = RefuseUnsigned("infer", NEW, UNSIGNED.reason).reason
    assert reason.startswith(f"not applied: {UNSIGNED.reason}; ")
    assert "scripts/publish --sign-key" in reason


# The engine executes the first step, feeds back what it found out, and plans again.
OUTCOMES = {
    CheckSignature: {"signature": SIGNED}, Pull: {"pulled": True}, SelfTest: {"self_test": HEALTHY},
    SetAside: {"set_aside": True}, StartNew: {"started": True}, RemoveOld: {"old_removed": True},
    Rollback: {"rolled_back": True}, Prune: {"pruned": 1}, Finish: {"recorded": True}}


def walk(service, health, signature=SIGNED):
    facts, done = situation({service: NEW}), []
    for _ in range(plan_limit := 20):
        steps = plan.next_steps(service, facts)
        if not steps:
            break
        step = steps[0]
        done.append(type(step).__name__)
        if step.ends_turn:
            break
        attempt = facts.attempts.get(service, Attempt(NEW))
        found = {"health": health, "healthy_after_s": 3.0} if isinstance(step, WaitHealthy) else OUTCOMES[type(step)]
        found = {"signature": signature} if isinstance(step, CheckSignature) else found
        facts = replace(facts, attempts={service: replace(attempt, **found)})
    assert len(done) < plan_limit
    return done


@pytest.mark.parametrize(("service", "health", "steps"), [
    ("capture", HEALTHY, ["Pull", "SetAside", "StartNew", "WaitHealthy", "RemoveOld", "Prune", "Finish"]),
    ("capture", UNHEALTHY, ["Pull", "SetAside", "StartNew", "WaitHealthy", "Rollback", "Reject"]),
    ("updater", HEALTHY, ["Pull", "SelfTest", "SetAside", "StartNew", "WaitHealthy", "Prune", "Finish", "HandOver"]),
    ("updater", UNHEALTHY, ["Pull", "SelfTest", "SetAside", "StartNew", "WaitHealthy", "Rollback", "Reject"]),
])
def test_step_by_step_an_update_runs_to_its_end(service, health, steps):
    assert walk(service, health) == ["CheckSignature", *steps]


@pytest.mark.parametrize("service", ["capture", "updater"])
def test_step_by_step_an_unsigned_release_is_refused_before_the_pull(service):
    assert walk(service, HEALTHY, signature=UNSIGNED) == ["CheckSignature", "RefuseUnsigned"]
