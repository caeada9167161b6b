"""The single place that knows where the TFLite interpreter comes from.

The infer image installs `ai-edge-litert` (Google's successor of `tflite-runtime`, wheels for
linux x86_64 and aarch64): on the int8 COCO model it is tens of times faster than tflite-runtime 2.14
(see `bench/runtimes`). `tflite-runtime` is still accepted where it is all a device has. Both expose
the same `Interpreter` class, so the rest of the code does not care.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from smartcam.infer.errors import ModelError

# pip package name -> module with the Interpreter class, in order of preference.
RUNTIMES = {"ai-edge-litert": "ai_edge_litert.interpreter", "tflite-runtime": "tflite_runtime.interpreter"}


def interpreter_class(runtime: str | None = None) -> type[Any]:
    """The `Interpreter` class of `runtime` (a key of RUNTIMES), or of the first installed one when None."""
    names = list(RUNTIMES) if runtime is None else [runtime]
    for name in names:
        try:
            module = importlib.import_module(RUNTIMES[name])
        except ImportError:
            continue
        interpreter: type[Any] = module.Interpreter  # the runtimes ship no type information
        return interpreter
    wanted = "no TFLite runtime is installed" if runtime is None else f"the TFLite runtime {runtime} is not installed"
    raise ModelError(
        f"{wanted}: install `ai-edge-litert` (pip install ai-edge-litert==2.3.0, as the infer image does) "
        "or `tflite-runtime` (pip install tflite-runtime==2.14.0)"
    )


def make_interpreter(model_path: Path, num_threads: int | None = None, runtime: str | None = None) -> Any:
    """A ready (tensors allocated) interpreter for the model file at `model_path`."""
    interpreter_type = interpreter_class(runtime)
    try:
        interpreter = interpreter_type(model_path=str(model_path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ModelError(
            f"TFLite cannot load {model_path}: {error}; replace the file with a model built for TFLite "
            "(only builtin ops and TFLite_Detection_PostProcess are available)"
        ) from error
    return interpreter
