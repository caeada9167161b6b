"""Frame statistics: percentiles and frame rate over the rolling window, worked out when asked for."""

import numpy as np

from smartcam.infer.latency import WINDOW, WINDOW_S, FrameStats


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


def test_frames_older_than_the_window_s_no_longer_count():
    stats = FrameStats()
    for second in range(5):  # a stall: five frames of 3 s latency, one a second
        stats.record(0.0, 3.0, now=100.0 + second)
    for tenth in range(50):  # then five seconds of normal frames, ten a second
        stats.record(0.0, 0.050, now=105.0 + tenth / 10)
    stalled = stats.summary(now=110.0)
    assert stalled["latency_p99_ms"] == 3000.0  # the stall is within the last WINDOW_S
    assert stalled["window"] == 55
    recovered = stats.summary(now=100.0 + WINDOW_S + 4.5)  # the stall's frames are older than WINDOW_S now
    assert recovered["latency_p99_ms"] == 50.0
    assert recovered["window"] == 50
    assert recovered["fps"] == 10.0
    assert stats.summary(now=200.0) == {}  # nothing decided for WINDOW_S: no figures, not old ones
