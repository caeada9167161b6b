"""What to do next for each service, decided from plain facts only (no Docker, no disk, no clock).

As in balena-supervisor (`getRequiredSteps`, then step executors), one poll round is: observe
what runs, what the registry offers, the bad-version memory and the free disk; ask `next_steps`
what to do; let the engine execute the first step; feed back what that step found out (an
`Attempt`); ask again, until a step ends the service's turn. The plan lists the steps of the
expected path up to the first one whose outcome decides what follows (a health verdict, a
self-test, a rollback, the prune count), so each re-plan continues the same list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from smartcam.updater.signatures import SIGN_HINT

UPDATER = "updater"  # updates itself after every other service, once its successor passed a self-test

SkipCause = Literal["not_running", "registry", "bad_digest"]
FailCause = Literal["disk", "pull", "docker"]
RejectResult = Literal["rolled_back", "failed", "rejected"]


# --- facts --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


@dataclass(frozen=True)
class Current:
    """One service's container as found running: its image's registry digest (None: built locally)."""

    service: str
    digest: str | None
    image_size: int  # bytes; a pull needs about as much again


@dataclass(frozen=True)
class RegistryError:
    """The registry could not say what the channel tag points at (down, unknown repository, ...)."""

    message: str


Offer = str | RegistryError  # the digest the channel's tag points at, or why it is unknown


@dataclass(frozen=True)
class Attempt:
    """What executing this round's steps for one service found out so far."""

    digest: str
    signature: Verdict | None = None  # whether a trusted key signed this digest (checked before pulling)
    pulled: bool = False
    self_test: Verdict | None = None  # the updater only
    set_aside: bool = False  # the old container renamed to `<name>.previous` (and stopped, for services)
    set_aside_error: str | None = None  # why it could not be
    started: bool = False  # the new container was started under the service's name
    health: Verdict | None = None  # the new container's health gate (or why it never got that far)
    healthy_after_s: float | None = None  # from the old container stopping to the new one healthy
    old_removed: bool = False
    rolled_back: bool = False
    rollback_problem: str | None = None  # set when even the old container could not be restored
    pruned: int | None = None  # superseded images removed after a good update
    recorded: bool = False  # the good update is in the history
    failure: tuple[FailCause, str] | None = None  # a step that could not be done, and why


@dataclass(frozen=True)
class Situation:
    services: Sequence[str]  # the services to update, in order (without the updater)
    running: Mapping[str, Current]
    offered: Mapping[str, Offer]
    bad: Mapping[str, frozenset[str]]  # per service: digests that failed their health gate here
    free_disk_bytes: int
    min_free_disk_bytes: int  # beyond the size of the image being replaced
    attempts: Mapping[str, Attempt] = field(default_factory=dict)
    window_open: bool = True  # inside the maintenance window (SMARTCAM_UPDATE_WINDOW), or no window
    window_opens_at: float | None = None  # when it opens next (seconds since 1970), while closed


# --- steps --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    ends_turn: ClassVar[bool] = False  # nothing more happens to this service this round once it ran
    service: str


@dataclass(frozen=True)
class Skip(Step):
    """Not updated this round, for a reason worth reporting (`detail` says it in words)."""

    ends_turn: ClassVar[bool] = True
    cause: SkipCause
    detail: str
    digest: str | None = None  # the one offered, when known


@dataclass(frozen=True)
class HoldForDisk(Step):
    """Not pulled: the image would not fit with the free space the device must keep."""

    ends_turn: ClassVar[bool] = True
    digest: str
    needed_bytes: int
    free_bytes: int

    @property
    def reason(self) -> str:
        return (f"not pulled: only {self.free_bytes // 2**20} MiB free where images are stored, "
                f"{self.needed_bytes // 2**20} MiB needed")


@dataclass(frozen=True)
class HoldForWindow(Step):
    """Not started: outside the maintenance window; the update is pending until it opens."""

    ends_turn: ClassVar[bool] = True
    digest: str
    opens_at: float | None

    @property
    def reason(self) -> str:
        return "waiting for the update window (SMARTCAM_UPDATE_WINDOW)"


@dataclass(frozen=True)
class CheckSignature(Step):
    """Fetch the publisher's signature of `digest` from the registry and verify it, before anything is pulled."""

    digest: str


@dataclass(frozen=True)
class RefuseUnsigned(Step):
    """Not applied: `digest` has no valid signature by a key this device trusts. Checked again at every
    poll (one registry request), so signing the same digest later is enough; recorded once."""

    ends_turn: ClassVar[bool] = True
    digest: str
    problem: str

    @property
    def reason(self) -> str:
        return f"not applied: {self.problem}; {SIGN_HINT}"


@dataclass(frozen=True)
class Pull(Step):
    """Pull exactly `digest` and give it the channel tag."""

    digest: str


@dataclass(frozen=True)
class SelfTest(Step):
    """Run the new updater image's self-test in a throwaway container before handing over to it."""

    digest: str


@dataclass(frozen=True)
class SetAside(Step):
    """Rename the old container to `<name>.previous`; stop it first unless it must keep running."""

    digest: str
    stop: bool


@dataclass(frozen=True)
class StartNew(Step):
    """Create the old container's compose configuration on the new image, under its name, and start it."""

    digest: str


@dataclass(frozen=True)
class WaitHealthy(Step):
    digest: str


@dataclass(frozen=True)
class RemoveOld(Step):
    """The new container is healthy: the one set aside goes."""


@dataclass(frozen=True)
class Rollback(Step):
    """Remove the new container, give the old one its name and tag back, restart it if it was stopped."""

    digest: str
    restart_old: bool


@dataclass(frozen=True)
class Prune(Step):
    """Remove the repository's images other than the new and the previous one, and unused."""

    digest: str


@dataclass(frozen=True)
class Finish(Step):
    """Record a good update."""

    digest: str
    how: str  # e.g. "healthy 12s after the old container stopped"
    pruned: int

    @property
    def reason(self) -> str:
        return f"{self.how}; removed {self.pruned} superseded images"


@dataclass(frozen=True)
class HandOver(Step):
    """The successor updater is healthy and recorded: this updater removes its own container."""

    ends_turn: ClassVar[bool] = True


@dataclass(frozen=True)
class Reject(Step):
    """Record a failed health gate: the digest is marked bad and its image removed."""

    ends_turn: ClassVar[bool] = True
    digest: str
    result: RejectResult
    reason: str


@dataclass(frozen=True)
class Fail(Step):
    """Record a step that could not be done; the update is tried again at the next poll."""

    ends_turn: ClassVar[bool] = True
    digest: str
    cause: FailCause
    reason: str


# --- planning -----------------------------------------------------------------------------------

def order(services: Sequence[str]) -> list[str]:
    """The configured services in their order, then the updater itself."""
    return [*[s for s in services if s != UPDATER], UPDATER]


def plan(situation: Situation) -> list[Step]:
    """Every service's next steps, in update order."""
    return [step for service in order(situation.services) for step in next_steps(service, situation)]


def next_steps(service: str, situation: Situation) -> list[Step]:
    """What to do next for `service`; [] when it is up to date (or its turn is over)."""
    current = situation.running.get(service)
    if current is None:
        return [Skip(service, "not_running", f"no running {service} container of this project to update")]
    offer = situation.offered.get(service, RegistryError("not checked"))
    if isinstance(offer, RegistryError):
        return [Skip(service, "registry", offer.message)]
    attempt = situation.attempts.get(service)
    if attempt is not None and attempt.digest == offer:
        if attempt.recorded:  # a good update: only the updater has something left to do
            return [HandOver(service)] if service == UPDATER else []
        return _ending(service, attempt) or _after_verdict(service, attempt) or _forward(service, attempt)
    return _first_steps(service, current, offer, situation)


def _first_steps(service: str, current: Current, offer: str, situation: Situation) -> list[Step]:
    """Whether to start an update at all."""
    if offer == current.digest:
        return []
    if offer in situation.bad.get(service, frozenset()):
        return [Skip(service, "bad_digest", f"still at {offer}, which failed here before; waiting for a newer one",
                     offer)]
    if not situation.window_open:
        return [HoldForWindow(service, offer, situation.window_opens_at)]
    needed = current.image_size + situation.min_free_disk_bytes
    if situation.free_disk_bytes < needed:
        return [HoldForDisk(service, offer, needed, situation.free_disk_bytes)]
    return _forward(service, Attempt(offer))


def _ending(service: str, attempt: Attempt) -> list[Step]:
    """The step that records how the attempt ended, once that is known."""
    if attempt.failure is not None:
        return [Fail(service, attempt.digest, *attempt.failure)]
    if attempt.signature is not None and not attempt.signature.healthy:
        return [RefuseUnsigned(service, attempt.digest, attempt.signature.reason)]
    if attempt.rolled_back:
        return [_reject(service, attempt)]
    if attempt.pruned is None:
        return []
    finish = Finish(service, attempt.digest, _healthy_reason(service == UPDATER, attempt), attempt.pruned)
    return [finish, *([HandOver(service)] if service == UPDATER else [])]


def _after_verdict(service: str, attempt: Attempt) -> list[Step]:
    """Keep the new container (healthy) or go back to the old one."""
    is_updater = service == UPDATER
    if attempt.set_aside_error is not None and is_updater:
        # Still running under its own name: nothing to undo, the update is tried again at the next poll.
        return [Fail(service, attempt.digest, "docker", f"update interrupted: {attempt.set_aside_error}")]
    failed_test = attempt.self_test is not None and not attempt.self_test.healthy
    unhealthy = attempt.health is not None and not attempt.health.healthy
    if failed_test or unhealthy or attempt.set_aside_error is not None:
        return [Rollback(service, attempt.digest, restart_old=not is_updater)]
    if attempt.health is not None and attempt.health.healthy:
        return [*([] if is_updater or attempt.old_removed else [RemoveOld(service)]), Prune(service, attempt.digest)]
    return []


def _forward(service: str, attempt: Attempt) -> list[Step]:
    """The expected path, up to the first step whose outcome decides what follows."""
    digest = attempt.digest
    if attempt.signature is None:
        return [CheckSignature(service, digest)]
    steps: list[Step] = []
    if not attempt.pulled:
        steps.append(Pull(service, digest))
    if service == UPDATER and attempt.self_test is None:
        return [*steps, SelfTest(service, digest)]
    if not attempt.set_aside:  # the updater keeps running until its successor is healthy
        steps.append(SetAside(service, digest, stop=service != UPDATER))
    if not attempt.started:
        steps.append(StartNew(service, digest))
    return [*steps, WaitHealthy(service, digest)]


def failure(step: Step, error: str) -> tuple[FailCause, str]:
    """How a step that raised is recorded (a failed health gate is a verdict, not a failure)."""
    if isinstance(step, Pull):
        return "pull", f"pull failed: {error}"
    if isinstance(step, CheckSignature):
        return "pull", f"cannot fetch the image's signature: {error}"
    return "docker", f"update interrupted: {error}"


def _healthy_reason(is_updater: bool, attempt: Attempt) -> str:
    if is_updater:
        return "successor healthy"
    return f"healthy {attempt.healthy_after_s or 0.0:.0f}s after the old container stopped"


def _reject(service: str, attempt: Attempt) -> Reject:
    if attempt.set_aside_error is not None:
        verdict = Verdict(False, f"could not set the old container aside: {attempt.set_aside_error}")
    elif attempt.self_test is not None and not attempt.self_test.healthy:
        verdict = attempt.self_test
    else:
        verdict = attempt.health or Verdict(False, "no health verdict")
    result: RejectResult = "rolled_back"
    if attempt.rollback_problem:
        result = "failed"
    elif verdict is attempt.self_test:
        result = "rejected"
    reason = verdict.reason + (f"; {attempt.rollback_problem}" if attempt.rollback_problem else "")
    return Reject(service, attempt.digest, result, reason)
