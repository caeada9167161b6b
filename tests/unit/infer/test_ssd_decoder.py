"""The SSD decoder through the real interpreter on the tiny real TFLite_Detection_PostProcess model.

The fixture model (tests/fixtures/models/tiny-ssd) scores each 8x8 cell of its 32x32 input:
"bright" for a bright cell, "red" for a red one, with the cell as its box.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from smartcam.infer.detector import Detector
from smartcam.infer.errors import ModelError


def _frame_with_cells(cells: dict[tuple[int, int], tuple[int, int, int]], scale: int = 1) -> np.ndarray:
    """A mid-grey 32x32 frame (times `scale`) with the given (row, col) cells painted."""
    size = 8 * scale
    frame = np.full((32 * scale, 32 * scale, 3), 100, np.uint8)
    for (row, col), colour in cells.items():
        frame[row * size:(row + 1) * size, col * size:(col + 1) * size] = colour
    return frame


def test_a_bright_and_a_red_cell_come_out_with_their_labels_and_boxes(ssd_detector):
    frame = _frame_with_cells({(0, 2): (255, 255, 255), (3, 0): (255, 0, 0)})
    detections = {d.label: d for d in ssd_detector.detect(frame)}
    assert set(detections) == {"bright", "red"}  # "???" background is offset away, never reported
    assert detections["bright"].box == pytest.approx((0.5, 0.0, 0.75, 0.25))  # x0, y0, x1, y1 (not y-first)
    assert detections["red"].box == pytest.approx((0.0, 0.75, 0.25, 1.0))
    assert detections["bright"].score > 0.99


def test_a_plain_frame_gives_nothing(ssd_detector):
    assert ssd_detector.detect(_frame_with_cells({})) == []


def test_labels_exclude_the_background_placeholder(ssd_detector):
    assert ssd_detector.labels == ("bright", "red")


def test_larger_frames_are_resized_and_boxes_stay_normalised(ssd_detector):
    (detection,) = ssd_detector.detect(_frame_with_cells({(1, 3): (255, 255, 255)}, scale=10))
    assert detection.label == "bright"
    assert detection.box == pytest.approx((0.75, 0.25, 1.0, 0.5))


def test_without_the_label_offset_labels_shift_by_one(model_copy, tiny_ssd_dir):
    """The off-by-one the option exists for: class 0 ("bright") would read as the "???" entry."""
    model_dir = model_copy(tiny_ssd_dir)
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["decoder_options"] = {"label_offset": 0}
    manifest_path.write_text(json.dumps(manifest))
    detector = Detector.load(model_dir)
    frame = _frame_with_cells({(0, 0): (255, 255, 255), (2, 2): (255, 0, 0)})
    (detection,) = detector.detect(frame)  # the bright cell (class 0) reads as "???" and is dropped
    assert detection.label == "bright"  # ... and the red cell (class 1) is mislabelled
    assert detection.box == pytest.approx((0.5, 0.5, 0.75, 0.75))


def test_output_order_that_does_not_fit_the_shapes_is_refused(model_copy, tiny_ssd_dir):
    model_dir = model_copy(tiny_ssd_dir)
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["decoder_options"]["output_order"] = ["boxes", "classes", "scores", "count"]  # real order differs
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="do not have TFLite_Detection_PostProcess shapes") as caught:
        Detector.load(model_dir)
    assert "check decoder_options.output_order" in str(caught.value)


def _poisoned_ssd_detector(tiny_ssd_dir):
    """A detector of its own whose output buffers hold NaN, as a fresh interpreter's uninitialised memory may.

    Returns it and output name -> accessor of that output's real buffer (the interpreter refuses to run
    while a view of its buffers is alive, so each use asks for a new one).
    """
    detector = Detector.load(tiny_ssd_dir)
    interpreter = detector._interpreter  # the real buffers: the only way to put bytes there the op leaves alone
    buffers = {detail["name"]: interpreter.tensor(detail["index"]) for detail in interpreter.get_output_details()}
    for buffer in buffers.values():
        buffer().fill(np.nan)
    return detector, buffers


def test_slots_past_the_detection_count_are_not_judged(tiny_ssd_dir):
    """TFLite_Detection_PostProcess (fast NMS, as exported by default) writes only its first `count` slots.

    The rest keep what the buffer held; on a new interpreter that is uninitialised memory, now and then NaN.
    The model trial's NaN check read them too, and so rejected good models at random.
    """
    detector, buffers = _poisoned_ssd_detector(tiny_ssd_dir)
    (detection,) = detector.detect(_frame_with_cells({(1, 1): (255, 255, 255)}))
    assert detection.label == "bright"
    assert np.isnan(buffers["PartitionedCall:2"]()[0, 1:]).all()  # the op left them alone: the test still poisons
    assert detector.nonfinite_outputs() == []


def test_a_nan_in_a_slot_the_op_wrote_is_still_reported(tiny_ssd_dir):
    detector, buffers = _poisoned_ssd_detector(tiny_ssd_dir)
    detector.detect(_frame_with_cells({(1, 1): (255, 255, 255)}))
    buffers["PartitionedCall:2"]()[0, 0] = np.nan  # as a broken model's own score would be
    assert detector.nonfinite_outputs() == ["PartitionedCall:2"]
