"""Letterbox geometry and the mapping of boxes back to the frame."""

from __future__ import annotations

import numpy as np
import pytest

from smartcam.infer.manifest import InputSpec, RangeNormalisation
from smartcam.infer.preprocess import InputWriter, Placement


def test_letterbox_centres_a_wide_frame_with_bars_above_and_below():
    placement = Placement.fit(640, 480, 128, 128, "letterbox")
    assert (placement.left, placement.top, placement.width, placement.height) == (0, 16, 128, 96)


def test_letterbox_centres_a_tall_frame_with_bars_left_and_right():
    placement = Placement.fit(300, 600, 128, 128, "letterbox")
    assert (placement.left, placement.top, placement.width, placement.height) == (32, 0, 64, 128)


def test_stretch_fills_the_input():
    placement = Placement.fit(640, 480, 128, 128, "stretch")
    assert (placement.left, placement.top, placement.width, placement.height) == (0, 0, 128, 128)


def test_box_in_the_input_maps_to_the_frame():
    placement = Placement.fit(640, 480, 128, 128, "letterbox")  # content rows 16..112 of the input
    input_box = np.array([[0.25, 16 / 128, 0.75, 64 / 128]], np.float32)  # top half of the content
    assert placement.to_frame(input_box)[0] == pytest.approx([0.25, 0.0, 0.75, 0.5])


def test_boxes_reaching_into_the_padding_are_clipped_to_the_frame():
    placement = Placement.fit(640, 480, 128, 128, "letterbox")
    assert placement.to_frame(np.array([[-0.1, 0.0, 1.1, 1.0]], np.float32))[0] == pytest.approx([0, 0, 1, 1])


def test_writer_normalises_to_the_range_and_pads_black():
    spec = InputSpec(width=4, height=4, resize="letterbox",
                     normalisation=RangeNormalisation(kind="range", low=-1.0, high=1.0))
    writer = InputWriter(spec, np.float32)
    writer.write(np.full((2, 4, 3), 255, np.uint8))  # wide: rows 1..2 content, rows 0 and 3 padding
    tensor = writer.tensor[0]
    assert tensor[1:3].min() == pytest.approx(1.0)
    assert tensor[0].max() == pytest.approx(-1.0)
    assert tensor[3].max() == pytest.approx(-1.0)


def test_padding_is_black_again_after_a_frame_of_another_shape():
    """Buffers are reused between frames; a wide frame must not leave pixels in a tall frame's side bars."""
    spec = InputSpec(width=4, height=4, resize="letterbox",
                     normalisation=RangeNormalisation(kind="range", low=-1.0, high=1.0))
    writer = InputWriter(spec, np.float32)
    writer.write(np.full((2, 4, 3), 255, np.uint8))  # wide and white: rows 1..2
    writer.write(np.full((4, 2, 3), 255, np.uint8))  # tall: columns 1..2, columns 0 and 3 must be padding
    assert writer.tensor[0, :, 0].max() == pytest.approx(-1.0)
    assert writer.tensor[0, :, 3].max() == pytest.approx(-1.0)
