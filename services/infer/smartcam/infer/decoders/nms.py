"""Non-maximum suppression, plain or weighted, for decoders whose model has none built in.

Weighted NMS (MediaPipe's choice for BlazeFace) replaces each kept box by the score-weighted mean of
the boxes it suppresses, which steadies boxes from frame to frame. The loop runs once per *kept*
detection (a handful), each step vectorised over the remaining candidates.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Intersection over union of one x0,y0,x1,y1 box with each row of `boxes`."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0.0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0.0, None)
    intersection = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def non_max_suppression(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    classes: npt.NDArray[np.int64],
    *,
    iou_threshold: float,
    max_detections: int,
    weighted: bool,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Keep the best box of each overlapping group of the same class, best first.

    A candidate is suppressed when its IoU with a kept box of its class exceeds `iou_threshold`.
    Returns (boxes, scores, classes) of the kept detections, at most `max_detections`.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    kept_boxes: list[npt.NDArray[np.float32]] = []
    kept_scores: list[np.float32] = []
    kept_classes: list[np.int64] = []
    remaining = np.arange(len(scores))
    while remaining.size and len(kept_scores) < max_detections:
        best = remaining[0]
        overlapping = (classes[remaining] == classes[best]) & (
            iou(boxes[best], boxes[remaining]) > iou_threshold
        )
        overlapping[0] = True  # a degenerate (zero-area) best box still suppresses itself
        group = remaining[overlapping]
        if weighted:
            weights = scores[group]
            kept_boxes.append((boxes[group] * weights[:, None]).sum(axis=0) / weights.sum())
        else:
            kept_boxes.append(boxes[best])
        kept_scores.append(scores[best])
        kept_classes.append(classes[best])
        remaining = remaining[~overlapping]
    if not kept_scores:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return (np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32),
            np.asarray(kept_classes, np.int64))
