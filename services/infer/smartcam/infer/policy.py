"""Which frames become events: the selection policy, pure and deterministic given the time.

Rules, per frame:

1. A detection is *of interest* when its label is configured and its score reaches that label's
   minimum score. Everything else is ignored.
2. A label *fires* when it is of interest in this frame and either it has never been emitted, or its
   cool-down (`cooldown_s` since its last event) has passed, or the frame holds *more* objects of
   that label than its last event did (a second person walked in). Fewer or the same number within
   the cool-down is the same scene, so a static scene uploads once per cool-down, not every frame.
3. If any label fires, the frame is an event carrying all detections of interest, and every label in
   it restarts its cool-down with its current count.
4. Otherwise, with `baseline_every_n` = N > 0, every Nth frame seen is still sent, marked
   `sample=True`, so the server gets an unbiased sample of what the camera sees (including what
   the model misses). A frame that is already an event counts as that frame's sample.

`now` must come from a monotonic clock (`time.monotonic()`), so wall-clock jumps on a device
without a real-time clock do not stretch or skip a cool-down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from smartcam.common.wire import Detection


@dataclass(frozen=True)
class Decision:
    """`emit` says whether to send this frame; `reason` is one word for logs and counters."""

    emit: bool
    sample: bool
    detections: tuple[Detection, ...]
    reason: str  # "new", "more", "cooldown_over", "baseline", "cooling_down", "nothing"


@dataclass
class _LabelState:
    last_emitted_at: float
    count: int


class SelectionPolicy:
    """Keeps per-label cool-down state between frames; one instance per camera stream."""

    def __init__(self, min_scores: Mapping[str, float], cooldown_s: float, baseline_every_n: int = 0) -> None:
        if cooldown_s < 0 or baseline_every_n < 0:
            raise ValueError("cooldown_s and baseline_every_n must not be negative")
        self._min_scores = dict(min_scores)
        self._cooldown_s = cooldown_s
        self._baseline_every_n = baseline_every_n
        self._labels: dict[str, _LabelState] = {}
        self._frames_seen = 0

    def of_interest(self, detections: Sequence[Detection]) -> tuple[Detection, ...]:
        """The detections whose label is configured and whose score reaches its minimum."""
        return tuple(d for d in detections if d.label in self._min_scores and d.score >= self._min_scores[d.label])

    def decide(self, detections: Sequence[Detection], now: float) -> Decision:
        """Decide for one frame seen at monotonic time `now` (seconds)."""
        self._frames_seen += 1
        interesting = self.of_interest(detections)
        counts = Counter(d.label for d in interesting)
        reasons = [self._why_fires(label, count, now) for label, count in counts.items()]
        fired = [reason for reason in reasons if reason is not None]
        if fired:
            for label, count in counts.items():
                self._labels[label] = _LabelState(now, count)
            return Decision(True, False, interesting, _strongest(fired))
        if self._baseline_every_n and self._frames_seen % self._baseline_every_n == 0:
            return Decision(True, True, interesting, "baseline")
        return Decision(False, False, interesting, "cooling_down" if interesting else "nothing")

    def _why_fires(self, label: str, count: int, now: float) -> str | None:
        state = self._labels.get(label)
        if state is None:
            return "new"
        if count > state.count:
            return "more"
        if now - state.last_emitted_at >= self._cooldown_s:
            return "cooldown_over"
        return None


def _strongest(reasons: list[str]) -> str:
    """The most informative reason when several labels fire at once."""
    return min(reasons, key=("new", "more", "cooldown_over").index)
