"""MediaPipe BlazeFace-style output: per-anchor box regressors and score logits, no NMS in the model.

Anchors are generated from the manifest's `decoder_options` the way MediaPipe's
SsdAnchorsCalculator does it (fixed anchor size, so only anchor centres matter). Per frame only the
anchors whose logit beats the score threshold are decoded; then NMS (weighted by default, as
MediaPipe does for faces) merges the many anchors that fire on one face.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from smartcam.infer.decoders.base import (
    Decoder,
    DecoderMismatchError,
    DecoderOptions,
    RawDetections,
    TensorGetter,
    describe_outputs,
    grid_centres,
    logit,
)
from smartcam.infer.decoders.nms import non_max_suppression


class BlazeFaceOptions(DecoderOptions):
    strides: list[int] = Field(min_length=1)
    anchor_offset: float = Field(default=0.5, ge=0.0, le=1.0)
    interpolated_scale_aspect_ratio: float = 1.0  # > 0 adds a second anchor per location, as in MediaPipe
    raw_score_limit: float = Field(default=80.0, gt=0.0)  # clip logits so float32 exp() cannot overflow
    nms: Literal["weighted", "plain"] = "weighted"

    @field_validator("strides")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if min(value) <= 0:
            raise ValueError("every stride must be a positive number of pixels")
        return value


def generate_anchors(options: BlazeFaceOptions, width: int, height: int) -> npt.NDArray[np.float32]:
    """Anchor centres (N, 2) as normalised x, y, in the model's output order.

    Consecutive layers with the same stride share one feature map, whose anchors repeat once per
    layer (twice with an interpolated scale).
    """
    per_layer = 1 + (1 if options.interpolated_scale_aspect_ratio > 0 else 0)
    groups: list[npt.NDArray[np.float64]] = []
    layer = 0
    strides = options.strides
    while layer < len(strides):
        stride = strides[layer]
        same = layer
        while same < len(strides) and strides[same] == stride:
            same += 1
        _, _, centres = grid_centres(width, height, stride, options.anchor_offset)
        groups.append(np.repeat(centres, per_layer * (same - layer), axis=0))
        layer = same
    return np.concatenate(groups).astype(np.float32)


class BlazeFaceDecoder(Decoder):
    name = "blazeface"
    options_type = BlazeFaceOptions
    options: BlazeFaceOptions

    def _bind_outputs(self, output_details: Sequence[dict[str, Any]]) -> None:
        size = self.manifest.input
        self.anchors = generate_anchors(self.options, size.width, size.height)
        count, num_labels = len(self.anchors), len(self.manifest.labels)
        expected = f"two outputs [1, {count}, >=4] (box regressors) and [1, {count}, {num_labels}] (scores)"
        fitting = [d for d in output_details if len(d["shape"]) == 3 and d["shape"][0] == 1 and d["shape"][1] == count]
        scores = [d for d in fitting if d["shape"][2] == num_labels]
        boxes = [d for d in fitting if d["shape"][2] >= 4 and d not in scores]
        if len(output_details) != 2 or len(scores) != 1 or len(boxes) != 1:
            raise DecoderMismatchError(
                f"the model outputs {describe_outputs(output_details)}, but decoder 'blazeface' with "
                f"strides {self.options.strides} on a {size.width}x{size.height} input and {num_labels} label(s) "
                f"expects {expected}"
            )
        quantised = [d["name"] for d in (scores[0], boxes[0]) if d["dtype"] != np.float32]
        if quantised:
            raise DecoderMismatchError(
                f"outputs {', '.join(quantised)} are not float32; decoder 'blazeface' needs a float model "
                "(use the float .tflite, not a quantised one)"
            )
        self._scores_index = scores[0]["index"]
        self._boxes_index = boxes[0]["index"]
        self._scale = np.array([size.width, size.height, size.width, size.height], np.float32)
        self._logit_threshold = logit(self.manifest.thresholds.score)

    def decode(self, get_tensor: TensorGetter, max_detections: int) -> RawDetections:
        logits = get_tensor(self._scores_index)[0]
        if logits.shape[1] == 1:
            best = logits[:, 0]
            candidates = np.flatnonzero(best > self._logit_threshold)
            classes = np.zeros(candidates.size, np.int64)
        else:
            classes_all = logits.argmax(axis=1)
            best = logits[np.arange(len(logits)), classes_all]
            candidates = np.flatnonzero(best > self._logit_threshold)
            classes = classes_all[candidates]
        if candidates.size == 0:
            return RawDetections.empty()
        limit = self.options.raw_score_limit
        scores = 1.0 / (1.0 + np.exp(-np.clip(best[candidates], -limit, limit)))
        regressors = get_tensor(self._boxes_index)[0, candidates, :4] / self._scale
        centres = regressors[:, :2] + self.anchors[candidates]
        half_sizes = regressors[:, 2:4] / 2
        boxes = np.concatenate([centres - half_sizes, centres + half_sizes], axis=1)
        valid = (half_sizes > 0).all(axis=1)
        kept = non_max_suppression(
            boxes[valid], scores[valid].astype(np.float32), classes[valid],
            iou_threshold=self.manifest.thresholds.nms_iou, max_detections=max_detections,
            weighted=self.options.nms == "weighted",
        )
        return RawDetections(*kept)
