"""Shared fixtures: the real default model, the real SSD fixture model and the real photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartcam.infer.detector import Detector

ROOT = Path(__file__).resolve().parents[3]
BLAZEFACE_DIR = ROOT / "services/infer/models/blazeface-short-range"
TINY_SSD_DIR = ROOT / "tests/fixtures/models/tiny-ssd"
PHOTOS = ROOT / "services/capture/photos"


def _load_photo(name: str) -> np.ndarray:
    with Image.open(PHOTOS / name) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="session")
def load_photo():
    """A function: photo file name in services/capture/photos -> HxWx3 uint8 RGB array."""
    return _load_photo


@pytest.fixture(scope="session")
def tiny_ssd_dir() -> Path:
    return TINY_SSD_DIR


@pytest.fixture(scope="session")
def ssd_detector() -> Detector:
    return Detector.load(TINY_SSD_DIR)


@pytest.fixture(scope="session")
def face_detector() -> Detector:
    return Detector.load(BLAZEFACE_DIR)


@pytest.fixture
def model_copy(tmp_path: Path):
    """Copy a model directory into tmp_path, so a test can break it; returns the copy's path."""

    def copy(source: Path = BLAZEFACE_DIR) -> Path:
        target = tmp_path / source.name
        shutil.copytree(source, target)
        return target

    return copy


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The updater's models volume and infer's state volume, empty."""
    store, state = tmp_path / "models", tmp_path / "infer-state"
    store.mkdir()
    state.mkdir()
    return store, state
