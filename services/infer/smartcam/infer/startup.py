"""Which model infer starts with: the last one it accepted from the updater, else the built-in one.

A downloaded model that no longer loads (disk damage, deleted volume) must not stop detection:
infer falls back to the model in its image, says so, and records that it serves the built-in one,
so the updater offers the channel's model again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from smartcam.common.counters import Counters
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError
from smartcam.infer.model_state import ModelState
from smartcam.infer.settings import InferSettings


def load_start_model(settings: InferSettings, state: ModelState, logger: logging.Logger,
                     counters: Counters) -> Detector:
    """The detector to start with; ModelError only when the built-in model is broken too."""
    active = state.active
    if active is not None and Path(active.dir).parent == settings.models_dir:
        try:
            return Detector.load(Path(active.dir), settings.inference_threads)
        except ModelError as error:
            counters.inc("models.fallback")
            logger.error("the last accepted model %s no longer loads (%s); falling back to the built-in model in %s",
                         active.name, error, settings.model_dir)
    detector = Detector.load(settings.model_dir, settings.inference_threads)
    state.serving(detector.model_ref, settings.model_dir)
    return detector
