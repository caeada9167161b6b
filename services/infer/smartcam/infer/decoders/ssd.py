"""SSD models exported with the `TFLite_Detection_PostProcess` op: the model already did NMS.

The op has four outputs, in this order: boxes [1, N, 4] as ymin, xmin, ymax, xmax (normalised),
classes [1, N], scores [1, N], count [1]. Exporters name them `<prefix>:k` (k = 0..3; TF1 leaves
`:0` off) but list them in any order, so roles come from the name suffix unless the manifest gives
`output_order`. Class ids are 0-based without background; label maps that start with a "???"
background entry need `label_offset: 1`.

The op writes only the first `count` slots of boxes, classes and scores (its fast NMS, the exporters'
default, leaves the rest as the buffer was: stale, or on a new interpreter uninitialised and now and
then NaN), so nothing here reads past them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from smartcam.infer.decoders.base import (
    Decoder,
    DecoderMismatchError,
    DecoderOptions,
    RawDetections,
    TensorGetter,
    describe_outputs,
)

Role = Literal["boxes", "classes", "scores", "count"]
_OP_ORDER: tuple[Role, ...] = ("boxes", "classes", "scores", "count")
_SUFFIX = re.compile(r":(\d+)$")


class SsdOptions(DecoderOptions):
    label_offset: int = Field(default=0, ge=0, le=1)
    output_order: tuple[Role, Role, Role, Role] | None = None  # roles of the outputs, in interpreter order


def _roles_from_names(output_details: Sequence[dict[str, Any]]) -> list[Role] | None:
    roles: list[Role] = []
    for detail in output_details:
        match = _SUFFIX.search(detail["name"])
        position = int(match.group(1)) if match else 0
        if position >= len(_OP_ORDER):
            return None
        roles.append(_OP_ORDER[position])
    return roles if sorted(roles) == sorted(_OP_ORDER) else None


class SsdPostprocessDecoder(Decoder):
    name = "ssd_postprocess"
    options_type = SsdOptions
    options: SsdOptions

    def _bind_outputs(self, output_details: Sequence[dict[str, Any]]) -> None:
        shown = describe_outputs(output_details)
        if len(output_details) != 4:
            raise DecoderMismatchError(
                f"the model outputs {shown}, but decoder 'ssd_postprocess' expects the 4 outputs of "
                "TFLite_Detection_PostProcess (boxes, classes, scores, count)"
            )
        roles = list(self.options.output_order) if self.options.output_order else _roles_from_names(output_details)
        if roles is None or sorted(roles) != sorted(_OP_ORDER):
            raise DecoderMismatchError(
                f"cannot tell which of the outputs {shown} are boxes, classes, scores and count from their names; "
                'set decoder_options.output_order, e.g. ["boxes", "classes", "scores", "count"]'
            )
        by_role = dict(zip(roles, output_details, strict=True))
        slots = int(by_role["scores"]["shape"][-1])
        expected = {"boxes": [1, slots, 4], "classes": [1, slots], "scores": [1, slots], "count": [1]}
        wrong = [f"{role} {list(by_role[role]['shape'])} (expected {shape})"
                 for role, shape in expected.items() if list(by_role[role]["shape"]) != shape]
        if wrong:
            raise DecoderMismatchError(
                f"the outputs {shown} do not have TFLite_Detection_PostProcess shapes: {', '.join(wrong)}; "
                "check decoder_options.output_order"
            )
        self._index = {role: detail["index"] for role, detail in by_role.items()}
        self._slots = slots

    def _count(self, get_tensor: TensorGetter) -> int | None:
        """How many slots the op filled (clamped to the tensors), or None if the count itself is not a number."""
        count = float(get_tensor(self._index["count"])[0])
        return min(max(int(count), 0), self._slots) if math.isfinite(count) else None

    def written_outputs(self, get_tensor: TensorGetter) -> dict[int, npt.NDArray[Any]]:
        """The count, and the first `count` slots of the others: the op does not touch the rest."""
        written = {self._index["count"]: get_tensor(self._index["count"])}
        count = self._count(get_tensor)
        if count is not None:
            written.update({self._index[role]: get_tensor(self._index[role])[0, :count]
                            for role in ("boxes", "classes", "scores")})
        return written

    def decode(self, get_tensor: TensorGetter, max_detections: int) -> RawDetections:
        count = self._count(get_tensor)
        if count is None:
            raise ValueError(f"the model's detection count is {get_tensor(self._index['count'])[0]}")
        scores = get_tensor(self._index["scores"])[0, :count]
        keep = np.flatnonzero(scores >= self.manifest.thresholds.score)
        classes = np.rint(get_tensor(self._index["classes"])[0, keep]).astype(np.int64) + self.options.label_offset
        known = (classes >= 0) & (classes < len(self.manifest.labels))
        keep, classes = keep[known], classes[known]
        keep_order = np.argsort(-scores[keep], kind="stable")[:max_detections]
        keep, classes = keep[keep_order], classes[keep_order]
        ymin_xmin_ymax_xmax = get_tensor(self._index["boxes"])[0, keep]
        boxes = np.clip(ymin_xmin_ymax_xmax[:, [1, 0, 3, 2]], 0.0, 1.0).astype(np.float32)
        return RawDetections(boxes, scores[keep].astype(np.float32), classes)
