"""BlazeFace anchors follow MediaPipe's SsdAnchorsCalculator layout."""

from __future__ import annotations

import numpy as np
import pytest

from smartcam.infer.decoders.blazeface import BlazeFaceOptions, generate_anchors


def test_short_range_layout_has_896_anchors_in_two_grids():
    anchors = generate_anchors(BlazeFaceOptions(strides=[8, 16, 16, 16]), 128, 128)
    assert anchors.shape == (896, 2)
    # stride 8: a 16x16 grid, two anchors per cell, row-major
    assert anchors[0].tolist() == pytest.approx([0.5 / 16, 0.5 / 16])
    assert anchors[1].tolist() == anchors[0].tolist()
    assert anchors[2].tolist() == pytest.approx([1.5 / 16, 0.5 / 16])
    assert anchors[32].tolist() == pytest.approx([0.5 / 16, 1.5 / 16])
    # stride 16 (three layers): an 8x8 grid, six anchors per cell, after the 512 stride-8 anchors
    assert np.allclose(anchors[512:518], [0.5 / 8, 0.5 / 8])
    assert anchors[518].tolist() == pytest.approx([1.5 / 8, 0.5 / 8])
    assert anchors[-1].tolist() == pytest.approx([7.5 / 8, 7.5 / 8])


def test_without_interpolated_scale_each_layer_adds_one_anchor_per_cell():
    anchors = generate_anchors(BlazeFaceOptions(strides=[8, 16], interpolated_scale_aspect_ratio=0.0), 128, 128)
    assert len(anchors) == 16 * 16 + 8 * 8
