"""The runtime seam prefers ai-edge-litert (the image's), still takes tflite-runtime, or says what to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from smartcam.infer.errors import ModelError
from smartcam.infer.runtime import interpreter_class, make_interpreter


def test_ai_edge_litert_is_preferred():
    assert interpreter_class().__module__.startswith("ai_edge_litert")


def test_tflite_runtime_is_used_when_ai_edge_litert_is_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import now raises ImportError
    assert interpreter_class().__module__.startswith("tflite_runtime")


@pytest.mark.parametrize("runtime", ["ai-edge-litert", "tflite-runtime"])
def test_both_runtimes_give_the_same_scores_on_the_coco_model(coco_dir, load_photo, runtime):
    reference = make_interpreter(coco_dir / "model.tflite", runtime="ai-edge-litert")
    chosen = make_interpreter(coco_dir / "model.tflite", runtime=runtime)
    frame = np.asarray(Image.fromarray(load_photo("chelsea.jpg")).resize((320, 320)))[np.newaxis]
    outputs = []
    for interpreter in (reference, chosen):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], frame)
        interpreter.invoke()
        scores = next(d for d in interpreter.get_output_details() if d["shape"][-1] == 90)
        outputs.append(interpreter.get_tensor(scores["index"]).copy())
    assert outputs[0].max() > 0.5  # the cat
    np.testing.assert_allclose(outputs[0], outputs[1], atol=0.1)  # int8 kernels differ by a quantisation step or so
    assert np.unravel_index(outputs[0].argmax(), outputs[0].shape) == np.unravel_index(outputs[1].argmax(),
                                                                                         outputs[1].shape)


def test_a_runtime_that_is_not_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(ModelError, match=r"tflite-runtime is not installed.*tflite-runtime==2\.14\.0"):
        interpreter_class("tflite-runtime")


def test_no_runtime_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ModelError, match=r"no TFLite runtime is installed.*ai-edge-litert==2\.3\.0.*tflite-runtime"):
        interpreter_class()
