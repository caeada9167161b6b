"""Zones and masks: polygons in normalised image coordinates (0-1), so they survive a resolution change.

- *ignore zones* (SMARTCAM_IGNORE_ZONES): a detection whose reference point, the bottom centre of its
  box (where an object stands, as Frigate does), falls inside one is dropped before the policy.
- *privacy masks* (SMARTCAM_PRIVACY_MASKS): filled in black in every uploaded JPEG before encoding.
- *named zones* (SMARTCAM_ZONES): each detection carries the names of the zones its reference
  point is in (`zones: [...]`), so the target can filter.

Text form: polygons separated by `;`, each a list of `x,y` points separated by spaces; a named zone
is `name=x,y x,y x,y`. Example: `SMARTCAM_ZONES="road=0,0.6 1,0.6 1,1 0,1; gate=0.7,0.2 0.9,0.2 0.9,0.5"`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from smartcam.common.contracts.parts import MAX_ZONES, ZONE_PATTERN
from smartcam.common.wire import Detection


@dataclass(frozen=True)
class Polygon:
    name: str
    points: tuple[tuple[float, float], ...]

    def contains(self, x: float, y: float) -> bool:
        """Even-odd rule; a point exactly on the boundary may count either way."""
        inside = False
        points = self.points
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
        return inside


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float],
                    q2: tuple[float, float]) -> bool:
    """Whether two segments intersect (touching or overlapping counts)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0) and d1 != 0 and d2 != 0) and ((d3 > 0) != (d4 > 0) and d3 != 0 and d4 != 0):
        return True

    def on_segment(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return ((d1 == 0 and on_segment(q1, q2, p1)) or (d2 == 0 and on_segment(q1, q2, p2))
            or (d3 == 0 and on_segment(p1, p2, q1)) or (d4 == 0 and on_segment(p1, p2, q2)))


def _self_intersecting(points: Sequence[tuple[float, float]]) -> bool:
    edges = list(zip(points, [*points[1:], points[0]], strict=True))
    count = len(edges)
    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                continue  # neighbouring edges share a corner
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


def parse_polygons(text: str, setting: str, named: bool) -> tuple[Polygon, ...]:
    """Polygons from their text form; ValueError naming `setting`, the polygon and what is wrong."""
    polygons: list[Polygon] = []
    example = "name=0,0.6 1,0.6 1,1" if named else "0,0.6 1,0.6 1,1 0,1"
    for number, item in enumerate(filter(None, (part.strip() for part in text.split(";"))), start=1):
        name, _, body = item.partition("=") if named else (f"{setting.lower()}-{number}", "", item)
        name = name.strip()
        where = f"{setting} polygon {number} ({item!r})"
        if named and (not body or not re.fullmatch(ZONE_PATTERN, name)):
            raise ValueError(f"{where} needs a name of 1-64 letters, digits or . _ : - before '='; "
                             f"write e.g. {example}")
        try:
            points = tuple((float(x), float(y)) for x, y in (pair.split(",") for pair in body.split()))
        except ValueError:
            raise ValueError(f"{where} is not a list of x,y points separated by spaces; write e.g. {example}") \
                from None
        if len(points) < 3:
            raise ValueError(f"{where} has {len(points)} point(s); a polygon needs at least 3")
        outside = [point for point in points if not (0.0 <= point[0] <= 1.0 and 0.0 <= point[1] <= 1.0)]
        if outside:
            raise ValueError(f"{where} has points outside 0-1 {list(outside)}; coordinates are fractions of the "
                             "image width and height")
        if _self_intersecting(points):
            raise ValueError(f"{where} crosses itself; list the corners in order around the shape")
        if any(polygon.name == name for polygon in polygons):
            raise ValueError(f"{setting} names zone {name!r} twice; give each zone its own name")
        polygons.append(Polygon(name, points))
    if named and len(polygons) > MAX_ZONES:
        raise ValueError(f"{setting} lists {len(polygons)} zones; at most {MAX_ZONES}")
    return tuple(polygons)


EDGE = 1e-6  # reference points are kept this far inside the image


def reference_point(detection: Detection) -> tuple[float, float]:
    """The bottom centre of the box: where an object stands on the ground.

    Kept just inside the image: a box cut by the bottom edge ends at exactly 1.0, which a zone drawn
    to the edge would otherwise only touch, not contain.
    """
    x0, _, x1, y1 = detection.box
    return min(max((x0 + x1) / 2, EDGE), 1 - EDGE), min(max(y1, EDGE), 1 - EDGE)


@dataclass(frozen=True)
class Zones:
    ignore: tuple[Polygon, ...] = ()
    named: tuple[Polygon, ...] = ()
    masks: tuple[Polygon, ...] = ()
    _covered: dict[tuple[int, int], npt.NDArray[np.bool_]] = field(default_factory=dict, compare=False, repr=False)

    def apply(self, detections: Sequence[Detection]) -> list[Detection]:
        """Drop detections standing in an ignore zone; name the zones each remaining one stands in."""
        kept: list[Detection] = []
        for detection in detections:
            x, y = reference_point(detection)
            if any(zone.contains(x, y) for zone in self.ignore):
                continue
            names = tuple(zone.name for zone in self.named if zone.contains(x, y))
            kept.append(replace(detection, zones=names) if names else detection)
        return kept

    def burn_masks(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """`frame` with every privacy mask filled black (a copy when there are masks; `frame` is never written)."""
        if not self.masks:
            return frame
        height, width = frame.shape[:2]
        covered = self._covered.get((height, width))
        if covered is None:  # computed once per frame size
            ys, xs = np.mgrid[0:height, 0:width]
            centres_x, centres_y = (xs + 0.5) / width, (ys + 0.5) / height
            covered = np.zeros((height, width), bool)
            for mask in self.masks:
                covered |= _inside(mask, centres_x, centres_y)
            self._covered[(height, width)] = covered
        result = frame.copy()
        result[covered] = 0
        return result


def _inside(polygon: Polygon, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Vectorised even-odd test of many points against one polygon."""
    inside = np.zeros(xs.shape, bool)
    points = polygon.points
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        if y0 == y1:
            continue
        crosses = (y0 > ys) != (y1 > ys)
        inside ^= crosses & (xs < x0 + (ys - y0) * (x1 - x0) / (y1 - y0))
    return inside
