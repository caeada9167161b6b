"""The step executors: each performs one planned step (plan.py) and says what it found out.

Recording is here too: every attempt ends in exactly one history record; every failure is counted
and logged once per kind until it clears.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from smartcam.common.badlist import BadDigests
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateKind, UpdateRecord, UpdateResult
from smartcam.common.logs import OncePerKind
from smartcam.updater import plan
from smartcam.updater.docker_calls import DOCKER_ERRORS, DockerCalls
from smartcam.updater.image_signatures import ImageSignatures
from smartcam.updater.plan import UPDATER, Attempt
from smartcam.updater.replace import Replacer, Running


@dataclass
class Work:
    """What executing one service's steps holds beyond plain facts: the new image and container."""

    new_image: dict[str, Any] | None = None
    new_container: str | None = None
    stopped_at: float = 0.0

    @property
    def new_image_id(self) -> str:
        return str(self.new_image["Id"]) if self.new_image else ""


class Executors:
    """One method per kind of step; `execute` picks it."""

    def __init__(self, calls: DockerCalls, replacer: Replacer, *, signatures: ImageSignatures, bad: BadDigests,
                 history: UpdateHistory, counters: Counters, problems: OncePerKind, logger: logging.Logger,
                 heartbeat: Callable[[], None]) -> None:
        self._calls = calls
        self._signatures = signatures
        self._replacer = replacer
        self._bad = bad
        self._history = history
        self._counters = counters
        self._problems = problems
        self._logger = logger
        self._heartbeat = heartbeat
        self._recorded_failures: set[tuple[str, str, str]] = set()
        self._recorded_refusals: set[tuple[str, str, str]] = set()

    def report(self, step: plan.Step, current: Running | None) -> None:
        if isinstance(step, plan.HoldForDisk) and current is not None:
            self._fail(current, step.digest, "disk", step.reason)
        elif isinstance(step, plan.HoldForWindow) and current is not None:
            self._problems.report(f"window:{step.digest}", f"{current.ref}: {step.digest} is available; "
                                  f"{step.reason}", level=logging.INFO)
        elif isinstance(step, plan.Skip) and step.cause == "registry":
            self._problems.report("registry", step.detail)
        elif isinstance(step, plan.Skip) and step.cause == "bad_digest" and current is not None:
            self._problems.report(f"bad:{step.digest}", f"{current.ref} is {step.detail}", level=logging.INFO)
        else:
            self._logger.debug("%s not updated: %s", step.service, getattr(step, "detail", step))

    def execute(self, step: plan.Step, current: Running, attempt: Attempt, work: Work) -> Attempt:
        """Perform one step; what it found out."""
        executors: dict[type[plan.Step], Callable[[Any, Running, Attempt, Work], Attempt]] = {
            plan.CheckSignature: self._check_signature, plan.RefuseUnsigned: self._refuse_unsigned,
            plan.Pull: self._pull, plan.SelfTest: self._self_test, plan.SetAside: self._set_aside,
            plan.StartNew: self._start_new, plan.WaitHealthy: self._wait_healthy, plan.RemoveOld: self._remove_old,
            plan.Rollback: self._rollback, plan.Prune: self._prune, plan.Finish: self._finish,
            plan.HandOver: self._hand_over, plan.Reject: self._reject, plan.Fail: self._fail_step}
        return executors[type(step)](step, current, attempt, work)

    def _check_signature(self, step: plan.CheckSignature, current: Running, attempt: Attempt,
                         work: Work) -> Attempt:
        return replace(attempt, signature=self._signatures.check(current.repository, step.digest))

    def _refuse_unsigned(self, step: plan.RefuseUnsigned, current: Running, attempt: Attempt,
                         work: Work) -> Attempt:
        """Count every refusal; record it once per (service, digest, problem): the same unsigned tag is
        seen at every poll, and a different problem with it (another key, another digest) is news."""
        self._counters.inc("updates.unsigned")
        if (current.service, step.digest, step.problem) not in self._recorded_refusals:
            self._recorded_refusals.add((current.service, step.digest, step.problem))
            self._record(current, step.digest, "rejected", step.reason)
        self._problems.report(f"signature:{step.digest}", f"{current.ref}: {step.digest} {step.reason}",
                              level=logging.ERROR)
        return attempt

    def _pull(self, step: plan.Pull, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._logger.info("updating %s: %s -> %s", current.service, current.digest or "local build", step.digest)
        work.new_image = self._calls.pull(current.repository, step.digest, self._heartbeat)
        self._calls.tag(work.new_image["Id"], current.repository, current.tag)
        return replace(attempt, pulled=True)

    def _self_test(self, step: plan.SelfTest, current: Running, attempt: Attempt, work: Work) -> Attempt:
        return replace(attempt, self_test=self._replacer.self_test(work.new_image_id))

    def _set_aside(self, step: plan.SetAside, current: Running, attempt: Attempt, work: Work) -> Attempt:
        work.stopped_at = time.monotonic()
        try:
            self._replacer.set_aside(current, stop=step.stop)
        except DOCKER_ERRORS as error:
            return replace(attempt, set_aside_error=str(error))
        return replace(attempt, set_aside=True)

    def _start_new(self, step: plan.StartNew, current: Running, attempt: Attempt, work: Work) -> Attempt:
        work.new_container, problem = self._replacer.start_new(current, work.new_image_id)
        return replace(attempt, started=problem is None, health=problem)

    def _wait_healthy(self, step: plan.WaitHealthy, current: Running, attempt: Attempt, work: Work) -> Attempt:
        verdict = self._replacer.wait_healthy(work.new_container or "")
        return replace(attempt, health=verdict, healthy_after_s=time.monotonic() - work.stopped_at)

    def _remove_old(self, step: plan.RemoveOld, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._replacer.remove(current.id)
        return replace(attempt, old_removed=True)

    def _rollback(self, step: plan.Rollback, current: Running, attempt: Attempt, work: Work) -> Attempt:
        problem = self._replacer.restore(current, work.new_container, restart_old=step.restart_old)
        return replace(attempt, rolled_back=True, rollback_problem=problem)

    def _prune(self, step: plan.Prune, current: Running, attempt: Attempt, work: Work) -> Attempt:
        keep = {work.new_image_id, current.image_id}
        return replace(attempt, pruned=self._calls.prune_images(current.repository, keep))

    def _finish(self, step: plan.Finish, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._counters.inc("updates.applied")
        self._record(current, step.digest, "updated", step.reason)
        self._logger.info("updated %s to %s (%s)", current.service, step.digest, step.how)
        for kind_of_problem in ("disk", "pull", "docker"):
            self._problems.forget(kind_of_problem)
        return replace(attempt, recorded=True)

    def _hand_over(self, step: plan.HandOver, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._logger.info("successor updater is healthy; removing this container")
        self._calls.remove_container(current.id)  # ends this process; the successor carries on
        return attempt

    def _reject(self, step: plan.Reject, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._bad.mark(current.repository, step.digest)
        if work.new_image_id:
            self._discard(work.new_image_id)
        self._counters.inc(f"updates.{step.result}")
        self._record(current, step.digest, step.result, step.reason)
        log = self._logger.error if step.result == "failed" else self._logger.warning
        log("%s update to %s %s: %s; digest marked bad", current.service, step.digest, step.result.replace("_", " "),
            step.reason)
        return attempt

    def _fail_step(self, step: plan.Fail, current: Running, attempt: Attempt, work: Work) -> Attempt:
        self._fail(current, step.digest, step.cause, step.reason)
        return attempt

    def _discard(self, image_id: str) -> None:
        """A rejected image only takes disk; it is never run again (its digest is bad)."""
        try:
            self._calls.discard_image(image_id)
        except DOCKER_ERRORS as error:
            self._logger.info("kept rejected image %s: %s", image_id[:19], error)

    def _fail(self, current: Running, remote: str, what: str, reason: str) -> None:
        """Count every failed attempt; record it once per (service, digest, cause), so a full disk or a
        flaky link retried every poll does not push the rest out of the bounded history."""
        self._counters.inc("updates.failed")
        if (current.service, remote, what) not in self._recorded_failures:
            self._recorded_failures.add((current.service, remote, what))
            self._record(current, remote, "failed", reason)
        self._problems.report(what, f"{current.service} not updated to {remote}: {reason}", level=logging.ERROR)

    def _record(self, current: Running, remote: str, result: UpdateResult, reason: str) -> None:
        kind: UpdateKind = "updater" if current.service == UPDATER else "service"
        self._history.append(UpdateRecord(kind, current.service, current.digest, remote, result, reason))

