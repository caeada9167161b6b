"""Fixtures of the model-update tests (test_model_updates.py, test_hostile_manifests.py)."""

import json
import logging
from pathlib import Path

import pytest

from smartcam.common.history import UpdateHistory
from smartcam.common.wire import ModelRef
from smartcam.infer.model_state import ModelState

ROOT = Path(__file__).resolve().parents[3]
BLAZEFACE_DIR = ROOT / "services/infer/models/blazeface-short-range"
BLAZEFACE = json.loads((BLAZEFACE_DIR / "manifest.json").read_text())


@pytest.fixture
def device(tmp_path):
    """The device's volumes, with infer serving its built-in BlazeFace (as infer reports it at start-up)."""
    models, infer_state = tmp_path / "models", tmp_path / "infer-state"
    models.mkdir()
    infer_state.mkdir()
    serving = ModelRef(BLAZEFACE["name"], BLAZEFACE["sha256"])
    ModelState(infer_state, logging.getLogger("test.models")).serving(serving, BLAZEFACE_DIR)
    return models, infer_state, UpdateHistory(tmp_path / "state" / "history.json")
