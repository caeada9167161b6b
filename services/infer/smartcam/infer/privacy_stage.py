"""The privacy stage: what must be pixelated in a frame before its JPEG leaves the device, whatever the main model is.

Faces are always blurred (SMARTCAM_PRIVACY_FACES, on by default). A main model that detects faces
itself (the face model) supplies the boxes; any other main model (the COCO detector finds people,
not faces) gets the bundled face model run on each frame about to be uploaded, and its faces are
pixelated too. The main model's SMARTCAM_BLUR_LABELS (e.g. `person` in a privacy-strict deployment)
are pixelated as well. If the face model cannot be loaded the stage is *unavailable*: infer then
withholds every upload rather than send faces, and says why (log, counter, failing health).

When anything was pixelated, the face model checks the redacted frame: a 6-block mosaic of a large
face can still read as a face to it, and whatever it still finds is filled with one flat colour (a
few passes at most), so what leaves holds no face the face model can see.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from smartcam.common.wire import Detection
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.privacy import blur_labels, fill_boxes

CHECK_PASSES = 3  # re-check the redacted frame with the face model at most this often


class PrivacyUnavailableError(RuntimeError):
    """The face model is needed for this frame but did not load: the frame must not leave unblurred."""


class PrivacyStage:
    """Built once at start; `redact()` per frame about to be uploaded (frame loop thread only)."""

    def __init__(self, blurred_labels: frozenset[str], margin: float, face_detector: Detector | None,
                 face_min_score: float, unavailable: str | None = None) -> None:
        self.blurred_labels = blurred_labels
        self._margin = margin
        self._faces = face_detector
        self._face_min_score = face_min_score
        self.unavailable = unavailable  # why faces cannot be blurred, or None

    @classmethod
    def load(cls, *, faces: bool, model_dir: Path, blurred_labels: frozenset[str], margin: float,
             face_min_score: float, num_threads: int, logger: logging.Logger) -> PrivacyStage:
        """The stage for the settings; a face model that fails to load makes it unavailable, not a crash."""
        if not faces:
            logger.warning("SMARTCAM_PRIVACY_FACES is off: faces are pixelated only where the main model reports "
                           "a label in SMARTCAM_BLUR_LABELS (%s)", ", ".join(sorted(blurred_labels)) or "none")
            return cls(blurred_labels, margin, None, face_min_score)
        try:
            detector = Detector.load(model_dir, num_threads)
        except ModelError as error:
            reason = (f"the privacy (face) model in {model_dir} (SMARTCAM_PRIVACY_MODEL_DIR) does not load: {error}; "
                      "no image is uploaded until it does, so no face leaves unblurred")
            logger.error("%s", reason)
            return cls(blurred_labels, margin, None, face_min_score, unavailable=reason)
        return cls(blurred_labels, margin, detector, face_min_score)

    @property
    def face_labels(self) -> frozenset[str]:
        """The labels the face model pixelates (covered whatever the main model is)."""
        return frozenset(self._faces.labels) if self._faces is not None else frozenset()

    def redact(self, frame: npt.NDArray[np.uint8], main_labels: Sequence[str],
               detections: Sequence[Detection]) -> npt.NDArray[np.uint8]:
        """`frame` with everything private pixelated (a copy when anything is; `frame` is never written).

        `main_labels` are the labels the main model can report, `detections` what it found in this frame.
        """
        targets = [d for d in detections if d.label in self.blurred_labels]
        if self._faces is not None:
            face_labels = self.face_labels
            if face_labels.intersection(main_labels):  # the main model finds faces itself
                targets += [d for d in detections if d.label in face_labels and d not in targets]
            else:
                targets += [d for d in self._faces.detect(frame) if d.score >= self._face_min_score]
        elif self.unavailable is not None:
            raise PrivacyUnavailableError(self.unavailable)
        redacted = blur_labels(frame, targets, {d.label for d in targets}, self._margin)
        if self._faces is None or not targets:  # nothing changed: the face model would see what it saw
            return redacted
        return self._recheck(self._faces, redacted)

    def _recheck(self, faces: Detector, redacted: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Fill with a flat colour whatever the face model still sees in the redacted frame."""
        for _ in range(CHECK_PASSES):
            remaining = [d for d in faces.detect(redacted) if d.score >= self._face_min_score]
            if not remaining:
                break
            redacted = fill_boxes(redacted, remaining, self._margin)
        return redacted
