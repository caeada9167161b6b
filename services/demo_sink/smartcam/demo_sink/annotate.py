"""Draw detection boxes onto an uploaded JPEG so a person can see what the camera decided."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

_BOX_COLOURS = {"face": (255, 64, 64), "person": (255, 200, 0), "car": (0, 220, 120), "truck": (0, 220, 120),
                "bus": (0, 220, 120), "motorcycle": (0, 220, 120), "bicycle": (0, 220, 120)}
_DEFAULT_COLOUR = (64, 200, 255)


def caption(detection: dict[str, Any]) -> str:
    """`label score`, plus `@ zone, zone` for the named zones the object stands in."""
    text = f"{detection['label']} {detection['score']:.2f}"
    zones = detection.get("zones") or []
    return f"{text} @ {', '.join(zones)}" if zones else text


def draw_detections(jpeg: bytes, detections: list[dict[str, Any]]) -> bytes:
    """Return a JPEG with each detection's box and caption (label, score, zones) drawn on it."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(2, width // 300)
    for detection in detections:
        x0, y0, x1, y1 = detection["box"]
        colour = _BOX_COLOURS.get(detection["label"], _DEFAULT_COLOUR)
        rectangle = (x0 * width, y0 * height, x1 * width, y1 * height)
        draw.rectangle(rectangle, outline=colour, width=line)
        origin = (rectangle[0] + line, max(0, rectangle[1] - 12))
        text = caption(detection)
        draw.rectangle(draw.textbbox(origin, text), fill=(0, 0, 0))  # readable on any background
        draw.text(origin, text, fill=colour)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()
