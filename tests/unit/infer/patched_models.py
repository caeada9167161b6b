"""Broken variants of the shipped BlazeFace model, made by editing its score-head bias constants.

The two score heads (`classificator_8`, `classificator_16`) end in a convolution whose bias is
stored as float16 constants in the .tflite file. Setting every bias to NaN makes every score NaN
(a valid model that sees nothing); a huge positive bias makes every anchor fire; a huge negative
one makes the model detect nothing. The bytes to replace are found by reading the constants through
the real interpreter and locating them in the file (each occurs exactly once, which is checked).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smartcam.infer.runtime import interpreter_class

SCORE_BIASES = ("classificator_8/Bias", "classificator_16/Bias")
NAN = float("nan")
FIRES_EVERYWHERE = 60000.0  # near float16's maximum: every logit far above any threshold
SEES_NOTHING = -60000.0


def blazeface_with_score_bias(model_file: Path, bias: float) -> bytes:
    """The model file's bytes with every score-head bias set to `bias`."""
    data = model_file.read_bytes()
    interpreter = interpreter_class()(model_path=str(model_file), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    patched = bytearray(data)
    found = []
    for detail in interpreter.get_tensor_details():
        if detail["name"] not in SCORE_BIASES:
            continue
        original = interpreter.get_tensor(detail["index"])
        assert original.dtype == np.float16, f"{detail['name']} is {original.dtype}, expected float16"
        old = original.tobytes()
        assert data.count(old) == 1, f"{detail['name']}'s bytes are not unique in {model_file}"
        start = data.index(old)
        patched[start:start + len(old)] = np.full(original.shape, bias, np.float16).tobytes()
        found.append(detail["name"])
    assert sorted(found) == sorted(SCORE_BIASES), f"score biases not found in {model_file}: {found}"
    return bytes(patched)
