"""Load a model directory (manifest + .tflite) with every check up front, then detect per frame.

All checks happen in `Detector.load`, so a bad model stops the service at start with a message that
names the file and the fix, instead of failing on the first frame or, worse, detecting nonsense.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from smartcam.common.wire import Detection, ModelRef
from smartcam.infer.decoders import DECODERS, Decoder, DecoderMismatchError
from smartcam.infer.errors import ModelError
from smartcam.infer.manifest import MANIFEST_NAME, Manifest, RawNormalisation, load_manifest
from smartcam.infer.model_file import embedded_labels
from smartcam.infer.preprocess import InputWriter
from smartcam.infer.runtime import make_interpreter

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every TFLite model
BACKGROUND_LABEL = "???"  # label-map placeholder for "no class"; never reported


def check_model_file(path: Path, manifest: Manifest, manifest_path: Path) -> None:
    """Refuse a missing, truncated, foreign or altered model file, saying which and what to do."""
    fix = f"copy the right model file there again, or correct model_file/sha256 in {manifest_path}"
    if not path.is_file():
        raise ModelError(f"model file {path} (model_file in {manifest_path}) is missing; {fix}")
    size = path.stat().st_size
    if size < 8 or (manifest.size_bytes is not None and size < manifest.size_bytes):
        expected = f"{manifest.size_bytes} bytes" if manifest.size_bytes else "at least 8 bytes"
        raise ModelError(f"model file {path} is truncated ({size} bytes, expected {expected}); {fix}")
    with path.open("rb") as handle:
        header = handle.read(8)
    if header[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(
            f"model file {path} is not a TFLite model (no {TFLITE_IDENTIFIER.decode()} identifier at bytes 4..8); "
            f"export the model to .tflite, or {fix}"
        )
    digest = _sha256(path)
    if digest != manifest.sha256:
        raise ModelError(
            f"model file {path} has sha256 {digest}, but {manifest_path} expects {manifest.sha256}: "
            f"the file is corrupt or not the model the manifest describes; {fix}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_input(details: list[dict[str, Any]], manifest: Manifest, model_path: Path, manifest_path: Path) -> Any:
    """The single input must be [1, height, width, 3] of a dtype matching the normalisation."""
    spec = manifest.input
    expected_shape = [1, spec.height, spec.width, 3]
    if len(details) != 1 or list(details[0]["shape"]) != expected_shape:
        shown = ", ".join(str(list(d["shape"])) for d in details)
        raise ModelError(
            f"model file {model_path} takes input {shown}, but {manifest_path} describes {expected_shape}; "
            "correct input.width/input.height in the manifest"
        )
    dtype = details[0]["dtype"]
    wants_raw = isinstance(spec.normalisation, RawNormalisation)
    if wants_raw != (dtype == np.uint8) or dtype not in (np.uint8, np.float32):
        needed = '{"kind": "raw"}' if dtype == np.uint8 else 'a "range" or "mean_std" normalisation'
        raise ModelError(
            f"model file {model_path} takes {np.dtype(dtype).name} input, which does not fit "
            f"input.normalisation {spec.normalisation.kind!r} in {manifest_path}; use {needed}"
        )
    return dtype


class InvokeHooks(Protocol):
    """Told around each interpreter run, which releases the GIL: other threads can act meanwhile."""

    def before_invoke(self) -> None: ...

    def after_invoke(self) -> None:
        """Called also when the run fails."""


class Detector:
    """One loaded model: call `detect(frame)` per frame (not thread-safe; one per thread)."""

    def __init__(self, manifest: Manifest, interpreter: Any, decoder: Decoder, input_writer: InputWriter,
                 model_dir: Path) -> None:
        self.manifest = manifest
        self.model_dir = model_dir  # so a model trial can load its own copy (a Detector serves one thread)
        self.model_ref = ModelRef(manifest.name, manifest.sha256)
        self.labels: tuple[str, ...] = tuple(label for label in manifest.labels if label != BACKGROUND_LABEL)
        self._interpreter = interpreter
        self._decoder = decoder
        self._input = input_writer
        self._input_index = interpreter.get_input_details()[0]["index"]
        self._label_names = list(manifest.labels)

    @classmethod
    def load(cls, model_dir: Path, num_threads: int = 0, runtime: str | None = None) -> Detector:
        """Check everything about `model_dir` and return a warmed-up detector, or raise ModelError.

        `num_threads` 0 leaves the choice to the runtime (SMARTCAM_INFERENCE_THREADS); `runtime` names one
        of runtime.RUNTIMES (None: the preferred installed one; benchmarks compare them).
        """
        manifest_path = model_dir / MANIFEST_NAME
        manifest = load_manifest(model_dir)
        decoder_type = DECODERS.get(manifest.decoder)
        if decoder_type is None:
            raise ModelError(
                f"model manifest {manifest_path} names unknown decoder {manifest.decoder!r}; "
                f"set decoder to one of: {', '.join(sorted(DECODERS))}"
            )
        model_path = model_dir / manifest.model_file
        check_model_file(model_path, manifest, manifest_path)
        if manifest.labels_from == "embedded":
            manifest = manifest.model_copy(update={"labels": embedded_labels(model_path)})
        interpreter = make_interpreter(model_path, num_threads or None, runtime)
        dtype = _check_input(interpreter.get_input_details(), manifest, model_path, manifest_path)
        try:
            decoder = decoder_type(manifest, interpreter.get_output_details())
            decoder.check_model(model_path)
        except DecoderMismatchError as error:
            raise ModelError(
                f"model file {model_path} does not fit {manifest_path}: {error}; "
                f"use the decoder and options that match the model (known decoders: {', '.join(sorted(DECODERS))})"
            ) from None
        detector = cls(manifest, interpreter, decoder, InputWriter(manifest.input, dtype), model_dir)
        detector.detect(np.zeros((manifest.input.height, manifest.input.width, 3), np.uint8))  # warm-up
        return detector

    def detect(self, frame: npt.NDArray[np.uint8], max_detections: int | None = None,
               hooks: InvokeHooks | None = None) -> list[Detection]:
        """Detections in `frame` (HxWx3 uint8 RGB), boxes normalised to the frame, best first.

        `max_detections` replaces the manifest's cap (a model trial counts past it); None keeps it.
        `hooks` are told when the model starts and stops running (infer asks for its next frame meanwhile).
        """
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
            raise ValueError(f"detect() needs an HxWx3 uint8 RGB frame, got {frame.dtype} {list(frame.shape)}")
        placement = self._input.write(frame)
        self._interpreter.set_tensor(self._input_index, self._input.tensor)
        if hooks is None:
            self._interpreter.invoke()
        else:
            hooks.before_invoke()
            try:
                self._interpreter.invoke()
            finally:
                hooks.after_invoke()
        cap = max_detections or self.manifest.thresholds.max_detections
        raw = self._decoder.decode(self._interpreter.get_tensor, cap)
        if not len(raw):
            return []
        boxes = placement.to_frame(raw.boxes).tolist()
        detections = [
            Detection(self._label_names[label], float(score), (box[0], box[1], box[2], box[3]))
            for box, score, label in zip(boxes, raw.scores.tolist(), raw.classes.tolist(), strict=True)
            if self._label_names[label] != BACKGROUND_LABEL
        ]
        detections.sort(key=lambda detection: -detection.score)
        return detections

    def nonfinite_outputs(self) -> list[str]:
        """Names of the float outputs of the last `detect()` holding NaN or ±inf where the model wrote them.

        Decoders read a NaN score as "nothing here", so such a model looks like an empty scene: blind, silently.
        Only what the last invoke wrote counts (the decoder knows which part): an op may leave slots untouched,
        and judging their leftover bytes rejected good models at random.
        """
        written = self._decoder.written_outputs(self._interpreter.get_tensor)
        return [
            detail["name"] for detail in self._interpreter.get_output_details()
            if detail["index"] in written and np.issubdtype(detail["dtype"], np.floating)
            and not np.isfinite(written[detail["index"]]).all()
        ]
