"""Camera health: is the camera still seeing anything useful? Cheap statistics on a sample of frames.

Once per `interval_s` (not per frame: the hot path stays as fast as it was) the frame infer already
decoded is shrunk to a small grey image (`SIDE` pixels wide) and measured:

- *dark*: mean brightness under `dark_below` (0-1): lens covered, light gone.
- *frozen*: the mean absolute change from the previous sample is under `FROZEN_CHANGE` grey levels.
  A live sensor always has some noise; a frame repeated bit for bit has none.
- *blurred*: sharpness (variance of the Laplacian) under `blur_ratio` times the reference's: fog,
  dirt, lost focus.
- *scene_changed*: the correlation of the (brightness-normalised) image with the reference is under
  `scene_min_correlation`: the camera was moved.

The reference is kept from the samples of the first `reference_s` of healthy operation: the median
sharpness, and the scenes seen, each the average of the samples that correlate with it (up to
`MAX_SCENES`; a view seen in under `MIN_SCENE_SHARE` of the samples, a bus filling the picture for a
moment, is dropped). *scene_changed* means unlike every reference scene. A fixed camera keeps one
scene (two, say, with the lights on and off); the replay demo, which cycles a few different photos,
keeps each photo as a scene, so it never reports the "camera" moved once the reference is kept. A dark
image is only *dark* (a covered lens is blurred and a different scene too, which says nothing more).
A condition must hold for `after_s` before it is raised, and be gone for `after_s` before it is
cleared, so a car's headlights or a passing truck raise nothing and a condition raises once, not per
frame. `observe` returns the changes; the caller turns each one into one `camera_health` event, typed
by `report(change)` (condition, raised or cleared, the figures), plus the detection label targets of
the first release read (`camera_health:<condition>[_cleared]`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from smartcam.common.contracts.event import CAMERA_HEALTH_LABEL_PREFIX
from smartcam.common.contracts.parts import CameraHealthFigures, CameraHealthReport

CONDITIONS = ("dark", "frozen", "blurred", "scene_changed")
SIDE = 160  # pixels wide of the grey image measured: enough for focus, cheap (a few hundred µs)
SCENE_SIDE = 32  # pixels wide of the image compared with the reference: layout, not detail or noise
FROZEN_CHANGE = 0.05  # grey levels (0-255); sensor noise alone is well above this
MAX_SCENES = 8  # distinct reference views kept; further samples join the most alike
MIN_SCENE_SHARE = 0.05  # a view seen in fewer of the reference samples is a passing thing, not a scene


@dataclass(frozen=True)
class Measures:
    brightness: float  # 0-1
    sharpness: float  # variance of the Laplacian, grey levels²
    change: float | None  # mean absolute change from the previous sample, grey levels; None for the first
    correlation: float | None  # with the reference scene, -1..1; None before the reference is kept


@dataclass(frozen=True)
class Change:
    """One condition raised (`cleared=False`) or cleared, for one `camera_health` event."""

    condition: str
    cleared: bool

    @property
    def label(self) -> str:
        """The event's detection label: `camera_health:dark`, `camera_health:dark_cleared`."""
        return f"{CAMERA_HEALTH_LABEL_PREFIX}{self.condition}{'_cleared' if self.cleared else ''}"


@dataclass
class _Track:
    seen_since: float | None = None  # start of the current run of samples showing the condition
    gone_since: float | None = None  # start of the current run of samples without it
    active: bool = False


def grey(pixels: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.float64]:
    """The frame as a small grey float image `width` pixels wide (aspect kept)."""
    image = Image.fromarray(pixels).convert("L")
    height = max(1, round(image.height * width / image.width))
    return np.asarray(image.resize((width, height), Image.Resampling.BOX), dtype=np.float64)


def laplacian_variance(image: npt.NDArray[np.float64]) -> float:
    """Sharpness: the variance of the 4-neighbour Laplacian (edges make it large, blur makes it small)."""
    lap = (image[1:-1, :-2] + image[1:-1, 2:] + image[:-2, 1:-1] + image[2:, 1:-1] - 4 * image[1:-1, 1:-1])
    return float(lap.var())


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


class CameraHealth:
    """Keeps the reference, the previous sample and each condition's persistence; time is given by the caller."""

    def __init__(self, *, after_s: float, dark_below: float, blur_ratio: float, scene_min_correlation: float,
                 reference_s: float | None = None, interval_s: float = 1.0) -> None:
        self._after_s = after_s
        self._dark_below = dark_below
        self._blur_ratio = blur_ratio
        self._scene_min_correlation = scene_min_correlation
        self._reference_s = after_s if reference_s is None else reference_s
        self._interval_s = interval_s
        self._last_sample_at: float | None = None
        self._last_seq: int | None = None
        self._previous: npt.NDArray[np.float64] | None = None
        self._reference_started: float | None = None
        self._scene_sums: list[npt.NDArray[np.float64]] = []  # while learning: per scene, the sum of its samples
        self._scene_counts: list[int] = []
        self._reference_sharpness: list[float] = []
        self._references: list[npt.NDArray[np.float64]] | None = None
        self._sharpness_ref: float | None = None
        self._tracks = {condition: _Track() for condition in CONDITIONS}
        self.last: Measures | None = None

    @property
    def active(self) -> list[str]:
        """The conditions raised and not yet cleared, for infer's health file."""
        return [condition for condition, track in self._tracks.items() if track.active]

    @property
    def has_reference(self) -> bool:
        return self._references is not None

    @property
    def reference_scenes(self) -> int:
        """How many distinct views the reference holds (0 before it is kept)."""
        return len(self._references or [])

    def report(self, change: Change) -> CameraHealthReport:
        """The event's `camera_health` part: the change and the figures of the sample that made it."""
        measures = self.last
        assert measures is not None, "a change comes from a measured sample"
        figures = CameraHealthFigures(
            brightness=round(measures.brightness, 4), sharpness=round(measures.sharpness, 2),
            sharpness_reference=None if self._sharpness_ref is None else round(self._sharpness_ref, 2),
            change=None if measures.change is None else round(measures.change, 3),
            correlation=None if measures.correlation is None else round(measures.correlation, 4))
        return CameraHealthReport(condition=change.condition, state="cleared" if change.cleared else "raised",
                                  figures=figures)

    def due(self, now: float) -> bool:
        """Whether a frame seen at monotonic `now` should be measured (one per `interval_s`)."""
        return self._last_sample_at is None or now - self._last_sample_at >= self._interval_s

    def observe(self, pixels: npt.NDArray[np.uint8], now: float, seq: int | None = None) -> list[Change]:
        """Measure one frame (HxWx3 RGB) if one is due at monotonic `now`; the conditions raised or cleared.

        `seq` is the frame's capture number: a frame delivered twice is not a frozen camera, so it is skipped.
        """
        if not self.due(now) or (seq is not None and seq == self._last_seq):
            return []
        self._last_sample_at, self._last_seq = now, seq
        image = grey(pixels, SIDE)
        small = grey(pixels, SCENE_SIDE)
        change = None if self._previous is None or self._previous.shape != image.shape else \
            float(np.abs(image - self._previous).mean())
        self._previous = image
        sharpness = laplacian_variance(image)
        correlation = self._scene_correlation(small)
        self.last = Measures(float(image.mean()) / 255.0, sharpness, change, correlation)
        seen = self._conditions(self.last)
        if not seen:
            self._learn(small, sharpness, now)
        elif self._references is None:  # the reference period must be healthy throughout: start it again
            self._scene_sums, self._scene_counts, self._reference_sharpness = [], [], []
        return [done for condition in CONDITIONS
                if (done := self._persist(condition, condition in seen, now)) is not None]

    def _conditions(self, measures: Measures) -> set[str]:
        if measures.brightness < self._dark_below:
            return {"dark"}
        seen = set()
        if measures.change is not None and measures.change < FROZEN_CHANGE:
            seen.add("frozen")
        if self._sharpness_ref is not None and measures.sharpness < self._blur_ratio * self._sharpness_ref:
            seen.add("blurred")
        if measures.correlation is not None and measures.correlation < self._scene_min_correlation:
            seen.add("scene_changed")
        return seen

    def _scene_correlation(self, small: npt.NDArray[np.float64]) -> float | None:
        """The correlation with the most alike reference scene; None before the reference is kept."""
        scenes = [scene for scene in self._references or [] if scene.shape == small.shape]
        return max((_correlation(small, scene) for scene in scenes), default=None)

    def _learn(self, small: npt.NDArray[np.float64], sharpness: float, now: float) -> None:
        """Gather healthy samples into the reference scenes until `reference_s` of healthy operation have passed."""
        if self._references is not None:
            return
        if not self._scene_sums or self._scene_sums[0].shape != small.shape:
            self._scene_sums, self._scene_counts, self._reference_sharpness = [], [], []
            self._reference_started = now
        alike = [_correlation(small, total / count) for total, count in zip(self._scene_sums, self._scene_counts,
                                                                             strict=True)]
        best = int(np.argmax(alike)) if alike else -1
        if alike and (alike[best] >= self._scene_min_correlation or len(alike) >= MAX_SCENES):
            self._scene_sums[best] = self._scene_sums[best] + small
            self._scene_counts[best] += 1
        else:
            self._scene_sums.append(small.copy())
            self._scene_counts.append(1)
        self._reference_sharpness.append(sharpness)
        assert self._reference_started is not None
        if now - self._reference_started >= self._reference_s:
            samples = len(self._reference_sharpness)
            self._references = [total / count for total, count in zip(self._scene_sums, self._scene_counts,
                                                                       strict=True)
                                if count >= MIN_SCENE_SHARE * samples]
            self._sharpness_ref = float(np.median(self._reference_sharpness))
            self._scene_sums, self._scene_counts = [], []

    def _persist(self, condition: str, seen: bool, now: float) -> Change | None:
        track = self._tracks[condition]
        if seen:
            track.gone_since = None
            track.seen_since = now if track.seen_since is None else track.seen_since
            if not track.active and now - track.seen_since >= self._after_s:
                track.active = True
                return Change(condition, cleared=False)
        else:
            track.seen_since = None
            track.gone_since = now if track.gone_since is None else track.gone_since
            if track.active and now - track.gone_since >= self._after_s:
                track.active = False
                return Change(condition, cleared=True)
        return None
