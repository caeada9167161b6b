"""Draw detection boxes onto an uploaded JPEG so a person can see what the camera decided."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

_BOX_COLOURS = {"face": (255, 64, 64)}
_DEFAULT_COLOUR = (64, 200, 255)


def draw_detections(jpeg: bytes, detections: list[dict[str, Any]]) -> bytes:
    """Return a JPEG with each detection's box and `label score` drawn on it."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(2, width // 300)
    for detection in detections:
        x0, y0, x1, y1 = detection["box"]
        colour = _BOX_COLOURS.get(detection["label"], _DEFAULT_COLOUR)
        rectangle = (x0 * width, y0 * height, x1 * width, y1 * height)
        draw.rectangle(rectangle, outline=colour, width=line)
        draw.text((rectangle[0] + line, max(0, rectangle[1] - 12)), f"{detection['label']} {detection['score']:.2f}",
                  fill=colour)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
