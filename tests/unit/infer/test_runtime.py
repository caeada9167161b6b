"""The runtime seam finds whichever TFLite runtime is installed, or says what to install."""

from __future__ import annotations

import sys

import pytest

from smartcam.infer.errors import ModelError
from smartcam.infer.runtime import interpreter_class


def test_tflite_runtime_is_found_here():
    assert interpreter_class().__module__.startswith(("tflite_runtime", "ai_edge_litert"))


def test_ai_edge_litert_is_used_when_tflite_runtime_is_absent(monkeypatch):
    import tflite_runtime.interpreter as installed  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", installed)  # stands in for the successor
    assert interpreter_class() is installed.Interpreter


def test_no_runtime_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ModelError, match=r"no TFLite runtime is installed.*tflite-runtime==2\.14\.0.*ai-edge-litert"):
        interpreter_class()
