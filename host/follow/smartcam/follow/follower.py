"""One poll of the channel: fetch the branch, verify its head, apply it gated on health, or roll back.

Order, so that nothing unverified is used and a power cut leaves the old or the new commit in force:
fetch (objects only) -> verify the head's signature -> unpack its tree beside the current one -> check its
compose configuration and images -> record the attempt -> host steps -> self-test of its host services ->
switch the `current` link -> restart host units -> `compose up --wait`. A failure after the record puts the
previous commit back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

from smartcam.common.badlist import BadDigests
from smartcam.common.contracts.checkout_status import (
    CheckoutState,
    CheckoutStatus,
    HeadOutcome,
    PollResult,
    write_status,
)
from smartcam.common.counters import Counters
from smartcam.common.history import UpdateHistory, UpdateRecord, UpdateResult
from smartcam.common.logs import OncePerKind
from smartcam.follow.deployments import Deployments
from smartcam.follow.git import GitError, UntrustedCommitError
from smartcam.follow.settings import FollowSettings
from smartcam.follow.stack import CommitRejectedError, Stack, StepFailedError
from smartcam.follow.state import Attempt, FollowState, load_state, save_state

BAD_KEY = "checkout"


class Outcome(Enum):
    UNREACHABLE = "unreachable"  # the git server did not answer
    UNCHANGED = "unchanged"  # nothing new to apply
    APPLIED = "applied"  # a new commit is in force
    REFUSED = "refused"  # the head was rejected or rolled back
    FAILED = "failed"  # could not be tried this time


class Follower:
    def __init__(self, settings: FollowSettings, logger: logging.Logger, counters: Counters,
                 stack: Stack | None = None) -> None:
        self._settings = settings
        self._log = logger
        self._counters = counters
        self._stack = stack or Stack(settings)
        self._deployments = Deployments(settings.deploy_dir)
        self._repository = self._deployments.repository
        settings.checkout_dir.mkdir(parents=True, exist_ok=True)
        self._bad = BadDigests(settings.checkout_dir / "bad-commits.json")
        self._history = UpdateHistory(settings.checkout_dir / "history.json")
        self._once = OncePerKind(logger, counters, "checkout")
        self._state, self.recovered = load_state(settings.checkout_dir, logger)
        if self.recovered:
            counters.inc("checkout.state_recovered")
        self._poll = PollResult()
        self._failure: tuple[str, str] | None = None  # the last (commit, reason) that could not be tried

    @property
    def current(self) -> str | None:
        return self._deployments.current()

    @property
    def last_error(self) -> str | None:
        return self._poll.error

    # --- start-up -------------------------------------------------------------------------------

    def resume(self) -> None:
        """Finish or undo an apply that a crash or power cut interrupted; recheck after a damaged state."""
        attempt = self._state.attempt
        current = self.current
        if attempt is None and not self.recovered:
            self._write_status()
            return
        # The link is the truth: a cut between the switch and the record of stage "switched" leaves stage
        # "host" with the new commit in force; it is health-checked and rolled back like any switched one.
        if attempt is not None and current == attempt.to_commit:
            self._log.warning("an apply of %s was interrupted after it came into force; checking its health again",
                              attempt.to_commit[:12])
            self._gate(attempt.to_commit, attempt.from_commit)
        elif attempt is not None:
            self._log.warning("an apply of %s was interrupted before it came into force; restoring the host "
                              "steps of %s", attempt.to_commit[:12], (current or "none")[:12])
            self._restore(current, reason="the apply was interrupted (restart or power cut); tried again")
        elif current is not None:
            self._log.warning("checking the health of %s, in force, after recovering the state", current[:12])
            try:
                self._stack.up(self._deployments.tree(current))
            except StepFailedError as error:
                self._log.error("the commit in force %s is not healthy: %s", current[:12], error)
        self._write_status()

    # --- one poll -------------------------------------------------------------------------------

    def poll(self) -> Outcome:
        settings = self._settings
        now = time.time()
        try:
            head = self._repository.fetch(settings.repo_url, settings.channel, settings.checkout_fetch_timeout_s)
        except GitError as error:
            self._poll = PollResult(at=now, ok=False, error=f"cannot fetch branch {settings.channel} of "
                                                            f"{settings.repo_url}: {error}")
            self._once.report("fetch_failed", self._poll.error or "", logging.ERROR)
            self._write_status()
            return Outcome.UNREACHABLE
        if self._poll.ok is False:
            self._log.info("the git server answers again (%s)", settings.repo_url)
        self._once.forget("fetch_failed")
        self._poll = PollResult(at=now, ok=True)
        try:
            return self._consider(head)
        finally:
            self._write_status()

    def _consider(self, head: str) -> Outcome:
        current = self.current
        if head == current:
            if self._state.head is None or self._state.head.commit != head:
                self._state.head = HeadOutcome(commit=head, state="applied", at=time.time())
                save_state(self._settings.checkout_dir, self._state)
            return Outcome.UNCHANGED
        if self._bad.is_bad(BAD_KEY, head):
            return Outcome.UNCHANGED  # reported when it was refused; waits for the branch to move
        force_pushed = current is not None and not self._repository.descends_from(head, current)
        if force_pushed:
            self._counters.inc("checkout.force_pushed")
            self._log.warning("branch %s was force-pushed: its head %s does not descend from %s, in force; it is "
                              "applied only if signed", self._settings.channel, head[:12], (current or "")[:12])
        try:
            signature = self._repository.verify(head, self._settings.allowed_signers)
        except UntrustedCommitError as error:
            return self._refuse(head, current, "rejected_unsigned", "rejected", f"{error}; not applied",
                                force_pushed=force_pushed)
        self._log.info("commit %s (%s) is signed by %s (%s)", head[:12], self._repository.subject(head),
                       signature.signer or "a trusted key", signature.key)
        try:
            tree = self._deployments.prepare(head)
            self._stack.check(tree)
        except CommitRejectedError as error:
            return self._refuse(head, current, "rejected", "rejected", f"{error}; not applied",
                                force_pushed=force_pushed)
        except GitError as error:
            return self._fail(head, current, str(error), force_pushed)
        return self._apply(head, current, force_pushed)

    # --- applying -------------------------------------------------------------------------------

    def _apply(self, head: str, current: str | None, force_pushed: bool) -> Outcome:
        self._log.info("applying %s (was %s)", head[:12], (current or "none")[:12])
        self._state.attempt = Attempt(from_commit=current, to_commit=head, stage="host", started_at=time.time())
        self._state.head = HeadOutcome(commit=head, state="applying", at=time.time(), force_pushed=force_pushed)
        save_state(self._settings.checkout_dir, self._state)
        self._write_status()
        tree = self._deployments.tree(head)
        try:
            self._stack.apply_host(tree)
            self._stack.self_test(tree)
        except StepFailedError as error:
            return self._roll_back(head, current, str(error), force_pushed)
        self._deployments.switch(head)
        self._state.attempt = self._state.attempt.model_copy(update={"stage": "switched"})
        save_state(self._settings.checkout_dir, self._state)
        return self._gate(head, current, force_pushed)

    def _gate(self, head: str, previous: str | None, force_pushed: bool = False) -> Outcome:
        """The new commit is in force: it stays only if its stack becomes healthy."""
        try:
            self._stack.restart_units()
            self._stack.up(self._deployments.tree(head))
        except StepFailedError as error:
            return self._roll_back(head, previous, str(error), force_pushed)
        now = time.time()
        self._state = FollowState(previous=previous, applied_at=now, refused=self._state.refused,
                                  head=HeadOutcome(commit=head, state="applied", at=now, force_pushed=force_pushed))
        save_state(self._settings.checkout_dir, self._state)
        self._counters.inc("checkout.applied")
        self._record(previous, head, "updated", "signed, applied and healthy")
        self._log.info("commit %s is in force and every service is healthy", head[:12])
        self._deployments.prune({head} if previous is None else {head, previous})
        return Outcome.APPLIED

    def _roll_back(self, head: str, previous: str | None, reason: str, force_pushed: bool) -> Outcome:
        if previous is None or previous == head:
            # Only before postinstall seeded a first tree: there is nothing to go back to. Said as it is.
            self._state.attempt = None
            save_state(self._settings.checkout_dir, self._state)
            return self._fail(head, previous, f"{reason}; no earlier commit to roll back to, so it stays in "
                                              "force (rerun host/postinstall)", force_pushed)
        self._log.error("commit %s failed: %s; rolling back to %s", head[:12], reason, previous[:12])
        self._restore(previous, reason=None)
        return self._refuse(head, previous, "rolled_back", "rolled_back",
                            f"{reason}; rolled back to {previous[:12]}", force_pushed=force_pushed)

    def _restore(self, commit: str | None, reason: str | None) -> None:
        """Put `commit` back in force with its own host steps and stack; clears the attempt."""
        if commit is not None:
            if self.current != commit:
                self._deployments.switch(commit)
            tree = self._deployments.tree(commit)
            steps: tuple[Callable[[], None], ...] = (
                lambda: self._stack.apply_host(tree), self._stack.restart_units, lambda: self._stack.up(tree))
            for step in steps:
                try:
                    step()
                except StepFailedError as error:
                    self._counters.inc("checkout.restore_failed")
                    self._log.error("restoring %s: %s", commit[:12], error)
        self._state.attempt = None
        if reason is not None and self._state.head is not None:
            self._state.head = self._state.head.model_copy(update={"state": "failed", "reason": reason})
        save_state(self._settings.checkout_dir, self._state)

    # --- outcomes -------------------------------------------------------------------------------

    def _refuse(self, head: str, current: str | None, state: CheckoutState, result: UpdateResult, reason: str, *,
                force_pushed: bool) -> Outcome:
        self._bad.mark(BAD_KEY, head)
        self._counters.inc(f"checkout.{state}")
        self._log.error("commit %s of %s: %s", head[:12], self._settings.channel, reason)
        self._state.remember(HeadOutcome(commit=head, state=state, reason=reason, at=time.time(),
                                         force_pushed=force_pushed))
        self._state.attempt = None
        save_state(self._settings.checkout_dir, self._state)
        self._record(current, head, result, reason)
        return Outcome.REFUSED

    def _fail(self, head: str, current: str | None, reason: str, force_pushed: bool) -> Outcome:
        """Not the commit's fault (disk, git): nothing changed; the next poll tries again. Logged once per cause."""
        self._counters.inc("checkout.failed")
        if self._failure != (head, reason):
            self._failure = (head, reason)
            self._log.error("commit %s could not be tried, the device stays on %s: %s", head[:12],
                            (current or "none")[:12], reason)
            self._record(current, head, "failed", reason)
        self._state.head = HeadOutcome(commit=head, state="failed", reason=reason, at=time.time(),
                                       force_pushed=force_pushed)
        save_state(self._settings.checkout_dir, self._state)
        return Outcome.FAILED

    def _record(self, from_commit: str | None, to_commit: str, result: UpdateResult, reason: str) -> None:
        self._history.append(UpdateRecord("checkout", self._settings.channel, from_commit, to_commit, result, reason))

    def _write_status(self) -> None:
        head = self._state.head
        current = self.current
        write_status(self._settings.checkout_dir, CheckoutStatus(
            updated_at=time.time(), channel=self._settings.channel, repo=self._settings.repo_url,
            commit=current, applied_at=self._state.applied_at,
            state=head.state if head is not None else ("applied" if current else "unknown"),
            head=head, poll=self._poll, refused=self._state.refused))
