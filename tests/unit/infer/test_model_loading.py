"""Every way a model directory can be wrong stops loading with a message naming the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartcam.common.service import FatalError
from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError


def _edit_manifest(model_dir: Path, **changes: object) -> Path:
    path = model_dir / "manifest.json"
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))
    return path


def _load_error(model_dir: Path) -> str:
    with pytest.raises(ModelError) as caught:
        Detector.load(model_dir)
    return str(caught.value)


def test_model_error_is_fatal_so_the_service_stops_with_the_reason():
    assert issubclass(ModelError, FatalError)


def test_default_model_loads_with_its_identity(face_detector):
    assert face_detector.model_ref.name == "blazeface-short-range"
    assert face_detector.model_ref.sha256 == "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"
    assert face_detector.labels == ("face",)


def test_missing_manifest(tmp_path):
    message = _load_error(tmp_path)
    assert str(tmp_path / "manifest.json") in message
    assert "is missing" in message
    assert "SMARTCAM_MODEL_DIR" in message


def test_manifest_that_is_not_json(model_copy):
    model_dir = model_copy()
    (model_dir / "manifest.json").write_text('{"name": "x",')
    message = _load_error(model_dir)
    assert str(model_dir / "manifest.json") in message
    assert "not valid JSON" in message
    assert "fix the syntax" in message


def test_manifest_with_bad_fields_names_each_field(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, sha256="abc", thresholds={"score": 1.5}, colour="blue")
    message = _load_error(model_dir)
    assert str(model_dir / "manifest.json") in message
    assert "field sha256" in message
    assert "field thresholds.score" in message
    assert "field colour" in message  # unknown keys are typos, not ignored
    assert "correct these fields" in message


def test_manifest_with_nested_normalisation_error(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, input={"width": 128, "height": 128,
                                     "normalisation": {"kind": "range", "low": 1.0, "high": -1.0}})
    message = _load_error(model_dir)
    assert "field input.normalisation.range" in message
    assert "must be greater than low" in message


def test_model_file_as_path_is_refused(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, model_file="../other/model.tflite")
    assert "field model_file" in _load_error(model_dir)


def test_unknown_decoder_lists_the_known_ones(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, decoder="yolo")
    message = _load_error(model_dir)
    assert "unknown decoder 'yolo'" in message
    assert "blazeface, ssd_anchors, ssd_postprocess" in message
    assert str(model_dir / "manifest.json") in message


def test_missing_model_file(model_copy):
    model_dir = model_copy()
    (model_dir / "model.tflite").unlink()
    message = _load_error(model_dir)
    assert str(model_dir / "model.tflite") in message
    assert "is missing" in message
    assert "copy the right model file there again" in message


def test_truncated_model_file(model_copy):
    model_dir = model_copy()
    model = model_dir / "model.tflite"
    model.write_bytes(model.read_bytes()[:100_000])
    message = _load_error(model_dir)
    assert str(model) in message
    assert "truncated (100000 bytes, expected 229032 bytes)" in message


def test_tiny_file_is_truncated_even_without_a_size_in_the_manifest(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, size_bytes=None)
    (model_dir / "model.tflite").write_bytes(b"TFL")
    assert "truncated (3 bytes, expected at least 8 bytes)" in _load_error(model_dir)


def test_file_that_is_not_tflite(model_copy):
    model_dir = model_copy()
    model = model_dir / "model.tflite"
    model.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(229_024))
    message = _load_error(model_dir)
    assert str(model) in message
    assert "is not a TFLite model (no TFL3 identifier" in message
    assert "export the model to .tflite" in message


def test_sha256_mismatch(model_copy):
    model_dir = model_copy()
    model = model_dir / "model.tflite"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte: same size, still a flatbuffer
    model.write_bytes(bytes(data))
    message = _load_error(model_dir)
    assert str(model) in message
    assert "expects 3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633" in message
    assert "corrupt or not the model the manifest describes" in message


def test_input_size_that_does_not_fit_the_model(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, input={"width": 192, "height": 192,
                                     "normalisation": {"kind": "range", "low": -1.0, "high": 1.0}})
    message = _load_error(model_dir)
    assert "takes input [1, 128, 128, 3]" in message
    assert "describes [1, 192, 192, 3]" in message
    assert "correct input.width/input.height" in message


def test_raw_normalisation_for_a_float_model_is_refused(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, input={"width": 128, "height": 128, "normalisation": {"kind": "raw"}})
    message = _load_error(model_dir)
    assert "takes float32 input" in message
    assert 'use a "range" or "mean_std" normalisation' in message


def test_anchor_options_that_do_not_fit_the_outputs(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, decoder_options={"strides": [16, 32, 32, 32]})
    message = _load_error(model_dir)
    assert str(model_dir / "model.tflite") in message
    assert "regressors[1, 896, 16]" in message
    assert "expects two outputs [1, 224, >=4]" in message


def test_bad_decoder_option_is_named(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, decoder_options={"strides": [8, 16, 16, 16], "nms": "fuzzy"})
    message = _load_error(model_dir)
    assert "field decoder_options.nms" in message


def test_ssd_model_with_the_blazeface_decoder_is_refused(model_copy, tiny_ssd_dir):
    model_dir = model_copy(tiny_ssd_dir)
    _edit_manifest(model_dir, decoder="blazeface", decoder_options={"strides": [8]})
    message = _load_error(model_dir)
    assert "does not fit" in message
    assert "known decoders: blazeface, ssd_anchors, ssd_postprocess" in message


def test_blazeface_model_with_the_ssd_decoder_is_refused(model_copy):
    model_dir = model_copy()
    _edit_manifest(model_dir, decoder="ssd_postprocess", decoder_options={})
    message = _load_error(model_dir)
    assert "expects the 4 outputs of TFLite_Detection_PostProcess" in message


def test_detect_refuses_a_frame_that_is_not_rgb(face_detector):
    import numpy as np  # noqa: PLC0415

    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        face_detector.detect(np.zeros((10, 10), np.uint8))
