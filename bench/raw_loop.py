"""Baseline for bench/pipeline: the detector alone, in one process, on the same photos and model.

Runs inside the infer image (same interpreter, numpy and model as the service). Photos are scaled
the way capture scales them, decoded once, then preprocess + invoke + decode run in a tight loop.
Prints one JSON object: frames, seconds, fps.
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
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector.detect(frames[count % len(frames)])
        count += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"frames": count, "seconds": round(elapsed, 2), "fps": round(count / elapsed, 1)}))


if __name__ == "__main__":
    main()
