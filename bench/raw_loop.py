"""Baseline for bench/pipeline: the detector alone, in one process, on the same photos and model.

Runs inside the infer image (same interpreter, numpy and model as the service). Photos are scaled
the way capture scales them (fitted within width x height, aspect kept), decoded once, then
preprocess + invoke + decode run in a tight loop. Prints one JSON object: frames, seconds, fps and
the per-frame detect time (p50, p99 in ms), which bounds the pipeline's capture-to-decision latency.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from smartcam.infer.detector import Detector


def load_frames(folder: Path, width: int, height: int) -> list[npt.NDArray[np.uint8]]:
    frames = []
    for path in sorted(folder.glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        scale = min(width / image.width, height / image.height)
        frames.append(np.asarray(image.resize((round(image.width * scale), round(image.height * scale)))))
    return frames


def main() -> None:
    model_dir, photos, width, height, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        float(sys.argv[5])
    detector = Detector.load(Path(model_dir))
    frames = load_frames(Path(photos), width, height)
    for frame in frames:  # warm-up
        detector.detect(frame)
    times: list[float] = []
    started = time.perf_counter()
    now = started
    while now - started < seconds:
        detector.detect(frames[len(times) % len(frames)])
        done = time.perf_counter()
        times.append(done - now)
        now = done
    elapsed = now - started
    p50, p99 = np.percentile(np.array(times) * 1000.0, [50, 99])
    print(json.dumps({"frames": len(times), "seconds": round(elapsed, 2), "fps": round(len(times) / elapsed, 1),
                      "detect_p50_ms": round(float(p50), 2), "detect_p99_ms": round(float(p99), 2)}))


if __name__ == "__main__":
    main()
