"""Asks capture for the next frame while the model still runs, timed so it arrives as this frame is done.

Asking only once a frame is done puts the round trip to capture (about 1-2 ms between containers) on every
frame; asking before the model runs makes every frame a whole detection old. The interpreter releases the
GIL while it runs, so a timer thread can ask at `invoke start + expected invoke time - lead`: the frame is
then on its way during the last part of the run and the decoding, and a few milliseconds old when used.

`lead` adapts: when the caller still had to wait for the frame, the lead grows by that wait (at most
doubling); otherwise it shrinks slowly, so frames stay as fresh as the round trip allows. If the timer has
not fired when the run ends (a run shorter than expected), the ask is made then.

Thread safety: `ask` (a ZeroMQ socket send) is called by the timer thread only between `before_invoke()`
and `after_invoke()`, while the caller's thread is inside the interpreter and does not touch the socket,
and always under one lock, so the two threads never use the socket at the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

START_LEAD_S = 0.002
MIN_LEAD_S = 0.0005
MAX_LEAD_S = 0.05
LEAD_DECAY = 0.98  # per frame the caller did not wait: the lead shrinks by 2 %
WAIT_NOTICED_S = 0.0002  # shorter waits are the cost of looking, not a frame still on its way
INVOKE_SMOOTHING = 0.2  # weight of the newest run in the expected invoke time


class EarlyAsk:
    """Before/after hooks around the interpreter run (`Detector.detect(..., hooks=...)`) that ask early."""

    def __init__(self, ask: Callable[[], object]) -> None:
        self._ask = ask
        self._lock = threading.Condition()
        self._armed_at: float | None = None  # when the running invoke started; None: no timer pending
        self._asked = False  # asked for the frame after the one being processed
        self._expected_invoke_s: float | None = None
        self.lead_s = START_LEAD_S
        self._closed = False
        self._thread = threading.Thread(target=self._timer, name="early-ask", daemon=True)
        self._thread.start()

    def before_invoke(self) -> None:
        with self._lock:
            self._armed_at = time.monotonic()
            self._asked = False
            self._lock.notify()

    def after_invoke(self) -> None:
        with self._lock:
            started, self._armed_at = self._armed_at, None
            if started is not None:
                took = time.monotonic() - started
                expected = self._expected_invoke_s
                self._expected_invoke_s = took if expected is None else expected + INVOKE_SMOOTHING * (took - expected)
            if not self._asked:  # the run ended before the timer fired: ask now
                self._ask()
                self._asked = True

    def waited(self, seconds: float) -> None:
        """The caller waited `seconds` for the frame asked for: ask that much earlier next time (or a bit later)."""
        with self._lock:
            if seconds > WAIT_NOTICED_S:  # at most doubled: one hiccup at capture must not age many frames
                self.lead_s = min(MAX_LEAD_S, self.lead_s + min(seconds, self.lead_s))
            else:
                self.lead_s = max(MIN_LEAD_S, self.lead_s * LEAD_DECAY)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=1)

    def _timer(self) -> None:
        with self._lock:
            while not self._closed:
                due = self._due()
                if due is None:
                    self._lock.wait()
                    continue
                remaining = due - time.monotonic()
                if remaining > 0:
                    self._lock.wait(remaining)
                    continue
                self._ask()  # the caller's thread is inside the interpreter (armed), and we hold the lock
                self._asked = True

    def _due(self) -> float | None:
        """When to ask during the current run; None when there is nothing to ask for (or no estimate yet)."""
        if self._armed_at is None or self._asked or self._expected_invoke_s is None:
            return None
        return self._armed_at + max(0.0, self._expected_invoke_s - self.lead_s)
