"""Non-maximum suppression, plain and weighted."""

from __future__ import annotations

import numpy as np
import pytest

from smartcam.infer.decoders.nms import iou, non_max_suppression


def _run(boxes, scores, classes=None, *, weighted=False, iou_threshold=0.3, max_detections=10):
    boxes = np.array(boxes, np.float32)
    scores = np.array(scores, np.float32)
    classes = np.zeros(len(scores), np.int64) if classes is None else np.array(classes, np.int64)
    return non_max_suppression(boxes, scores, classes, iou_threshold=iou_threshold,
                               max_detections=max_detections, weighted=weighted)


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    box = np.array([0, 0, 1, 1], np.float32)
    others = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [0.5, 0, 1.5, 1]], np.float32)
    assert iou(box, others) == pytest.approx([1.0, 0.0, 1 / 3])


def test_overlapping_boxes_keep_only_the_best_and_separate_boxes_survive():
    boxes, scores, _ = _run([[0, 0, 1, 1], [0.05, 0, 1.05, 1], [2, 2, 3, 3]], [0.6, 0.9, 0.7])
    assert scores.tolist() == pytest.approx([0.9, 0.7])
    assert boxes[0].tolist() == pytest.approx([0.05, 0, 1.05, 1])


def test_overlap_below_the_threshold_is_not_suppressed():
    _, scores, _ = _run([[0, 0, 1, 1], [0.5, 0, 1.5, 1]], [0.9, 0.8], iou_threshold=0.5)  # IoU 1/3
    assert len(scores) == 2


def test_weighted_nms_averages_the_suppressed_boxes_by_score():
    boxes, scores, _ = _run([[0, 0, 1, 1], [0.1, 0, 1.1, 1]], [0.75, 0.25], weighted=True)
    assert scores.tolist() == [0.75]
    assert boxes[0].tolist() == pytest.approx([0.025, 0, 1.025, 1])


def test_boxes_of_different_classes_do_not_suppress_each_other():
    _, _, classes = _run([[0, 0, 1, 1], [0, 0, 1, 1]], [0.9, 0.8], classes=[0, 1])
    assert sorted(classes.tolist()) == [0, 1]


def test_result_is_capped_at_max_detections_best_first():
    boxes = [[i * 2, 0, i * 2 + 1, 1] for i in range(5)]
    _, scores, _ = _run(boxes, [0.1, 0.5, 0.3, 0.9, 0.7], max_detections=3)
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.5])


def test_no_candidates_gives_empty_arrays():
    boxes, scores, classes = _run(np.zeros((0, 4)), [])
    assert boxes.shape == (0, 4)
    assert len(scores) == len(classes) == 0
