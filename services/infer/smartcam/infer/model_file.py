"""What a .tflite file carries besides the network: its embedded label file and MediaPipe detector metadata.

A TFLite model with metadata is also a zip (the associated files, such as `labels.txt`, are appended),
and its metadata is a flatbuffer inside one of the model's buffers. MediaPipe's object detectors
store there the exact anchors they were trained with (`DETECTOR_METADATA`, schema
`object_detector_metadata_schema.fbs`), which lets the decoder check the anchors it generates from
the manifest. Only the few fields needed are read, with a minimal flatbuffer reader, so infer needs
no `tflite-support` package (which pulls in TensorFlow's protobuf stack).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from smartcam.infer.errors import ModelError

LABELS_MEMBER = "labels.txt"
_METADATA_NAME = "TFLITE_METADATA"
_DETECTOR_METADATA = "DETECTOR_METADATA"

# Field numbers (declaration order) in the schemas that are read here.
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6  # tflite Model
_METADATA_NAME_FIELD, _METADATA_BUFFER = 0, 1  # tflite Metadata
_BUFFER_DATA = 0  # tflite Buffer
_SUBGRAPH_METADATA = 3  # tflite ModelMetadata
_CUSTOM_METADATA = 9  # tflite SubGraphMetadata
_CUSTOM_NAME, _CUSTOM_DATA = 0, 1  # tflite CustomMetadata
_SSD_ANCHORS_OPTIONS = 1  # mediapipe.tasks ObjectDetectorOptions
_FIXED_ANCHORS_SCHEMA = 0  # SsdAnchorsOptions
_ANCHORS = 0  # FixedAnchorsSchema


class _Table:
    """One flatbuffer table: fields looked up through its vtable; absent fields read as None."""

    def __init__(self, buffer: bytes, position: int) -> None:
        self._buffer = buffer
        self._position = position
        self._vtable = position - struct.unpack_from("<i", buffer, position)[0]
        self._vtable_size = struct.unpack_from("<H", buffer, self._vtable)[0]

    @classmethod
    def root(cls, buffer: bytes) -> _Table:
        return cls(buffer, struct.unpack_from("<I", buffer, 0)[0])

    def _field(self, number: int) -> int | None:
        entry = 4 + 2 * number
        if entry >= self._vtable_size:
            return None
        offset = struct.unpack_from("<H", self._buffer, self._vtable + entry)[0]
        return self._position + offset if offset else None

    def _target(self, number: int) -> int | None:
        field = self._field(number)
        return None if field is None else field + struct.unpack_from("<I", self._buffer, field)[0]

    def uint(self, number: int) -> int | None:
        field = self._field(number)
        return None if field is None else int(struct.unpack_from("<I", self._buffer, field)[0])

    def float(self, number: int) -> float:
        field = self._field(number)
        return 0.0 if field is None else float(struct.unpack_from("<f", self._buffer, field)[0])

    def string(self, number: int) -> str | None:
        data = self.bytes(number)
        return None if data is None else data.decode("utf-8", "replace")

    def bytes(self, number: int) -> bytes | None:
        target = self._target(number)
        if target is None:
            return None
        length = struct.unpack_from("<I", self._buffer, target)[0]
        return self._buffer[target + 4:target + 4 + length]

    def tables(self, number: int) -> list[_Table]:
        target = self._target(number)
        if target is None:
            return []
        length = struct.unpack_from("<I", self._buffer, target)[0]
        slots = (target + 4 + 4 * k for k in range(length))
        return [_Table(self._buffer, slot + struct.unpack_from("<I", self._buffer, slot)[0]) for slot in slots]

    def table(self, number: int) -> _Table | None:
        target = self._target(number)
        return None if target is None else _Table(self._buffer, target)


def embedded_labels(model_path: Path) -> list[str]:
    """The lines of the `labels.txt` zipped into the model file, or ModelError saying it is missing."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            text = archive.read(LABELS_MEMBER).decode("utf-8")
    except (zipfile.BadZipFile, KeyError):
        raise ModelError(
            f"model file {model_path} has no embedded {LABELS_MEMBER} (the manifest says \"labels_from\": "
            f"\"embedded\"); list the labels in the manifest's labels field instead, or use the model file "
            "with its metadata"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read {LABELS_MEMBER} inside model file {model_path} ({error})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def metadata_anchors(model_path: Path) -> npt.NDArray[np.float32] | None:
    """The model's own anchors (N, 4: x_centre, y_centre, width, height, normalised), if its metadata has them.

    None when the model carries no MediaPipe detector metadata; ModelError when it is there but unreadable.
    """
    data = model_path.read_bytes()
    try:
        detector = _detector_metadata(data)
        if detector is None:
            return None
        ssd = _Table.root(detector).table(_SSD_ANCHORS_OPTIONS)
        schema = ssd.table(_FIXED_ANCHORS_SCHEMA) if ssd else None
        anchors = schema.tables(_ANCHORS) if schema else []
    except (struct.error, IndexError) as error:
        raise ModelError(f"the metadata in model file {model_path} is damaged ({error}); use an intact copy") from None
    if not anchors:
        return None
    return np.array([[anchor.float(k) for k in range(4)] for anchor in anchors], np.float32)


def _detector_metadata(data: bytes) -> bytes | None:
    """The DETECTOR_METADATA flatbuffer from the model's TFLITE_METADATA, if any."""
    model = _Table.root(data)
    buffers = model.tables(_MODEL_BUFFERS)
    for entry in model.tables(_MODEL_METADATA):
        index = entry.uint(_METADATA_BUFFER)
        if entry.string(_METADATA_NAME_FIELD) != _METADATA_NAME or index is None or index >= len(buffers):
            continue
        metadata = buffers[index].bytes(_BUFFER_DATA)
        if not metadata:
            return None
        for subgraph in _Table.root(metadata).tables(_SUBGRAPH_METADATA):
            for custom in subgraph.tables(_CUSTOM_METADATA):
                if custom.string(_CUSTOM_NAME) == _DETECTOR_METADATA:
                    return custom.bytes(_CUSTOM_DATA)
    return None
