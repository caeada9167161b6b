"""The single place that knows where the TFLite interpreter comes from.

Debian/Raspberry Pi images ship `tflite-runtime`; newer installs ship its successor
`ai-edge-litert`. Both expose the same `Interpreter` class, so the rest of the code does not care.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from smartcam.infer.errors import ModelError

_PROVIDERS = ("tflite_runtime.interpreter", "ai_edge_litert.interpreter")


def interpreter_class() -> type[Any]:
    """The `Interpreter` class of the first installed TFLite runtime."""
    for module_name in _PROVIDERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        interpreter: type[Any] = module.Interpreter  # the runtimes ship no type information
        return interpreter
    raise ModelError(
        "no TFLite runtime is installed: install `tflite-runtime` (pip install tflite-runtime==2.14.0) "
        "or `ai-edge-litert` (pip install ai-edge-litert) in the infer image"
    )


def make_interpreter(model_path: Path, num_threads: int | None = None) -> Any:
    """A ready (tensors allocated) interpreter for the model file at `model_path`."""
    interpreter_type = interpreter_class()
    try:
        interpreter = interpreter_type(model_path=str(model_path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ModelError(
            f"TFLite cannot load {model_path}: {error}; replace the file with a model built for TFLite "
            "(only builtin ops and TFLite_Detection_PostProcess are available)"
        ) from error
    return interpreter
