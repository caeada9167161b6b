"""Frame statistics: percentiles and frame rate over the rolling window, worked out when asked for."""

import numpy as np

from smartcam.infer.latency import WINDOW, FrameStats


def test_summary_is_empty_before_the_first_frame():
    assert FrameStats().summary() == {}


def test_percentiles_cover_only_the_last_window_of_frames():
    stats = FrameStats()
    for latency_ms in range(1000):  # 0..999 ms; only the last WINDOW (500..999) count
        stats.record(100.0, 100.0 + latency_ms / 1000.0)
    summary = stats.summary()
    kept = np.arange(1000 - WINDOW, 1000, dtype=float)
    assert summary["window"] == WINDOW
    assert summary["latency_p50_ms"] == round(float(np.percentile(kept, 50)), 1) == 749.5
    assert summary["latency_p99_ms"] == round(float(np.percentile(kept, 99)), 1)
    assert summary["fps"] > 0


def test_a_slow_frame_shows_in_p99_but_not_p50():
    stats = FrameStats()
    for _ in range(190):
        stats.record(0.0, 0.010)
    for _ in range(10):  # 5 % slow frames
        stats.record(0.0, 0.500)
    summary = stats.summary()
    assert summary["latency_p50_ms"] == 10.0
    assert summary["latency_p99_ms"] == 500.0
