"""The class of a queued event, for the upload windows: `samples`, `camera_health` or `detections`.

A baseline sample is stored with `sample` set; a camera-health event is one whose first detection
is labelled `camera_health:<condition>` (`contracts.event.CAMERA_HEALTH_LABEL_PREFIX`); anything else is a
detection. Worked out in SQL from the columns the queue already has, so the delivery order and the
heartbeat's counts need no new column and no reading of every stored description.
"""

from __future__ import annotations

from collections.abc import Collection

from smartcam.common.contracts.event import CAMERA_HEALTH_LABEL_PREFIX

SAMPLES = "samples"
CAMERA_HEALTH = "camera_health"
DETECTIONS = "detections"
CLASSES = (DETECTIONS, SAMPLES, CAMERA_HEALTH)

# The class of the `events` row in scope, as an SQL expression over its `sample` and `metadata` columns.
# A damaged description (not JSON) is a detection here: json_extract would fail the whole query, and with
# it delivery; building its body dead-letters it instead (see delivery).
CLASS_SQL = (f"CASE WHEN sample THEN '{SAMPLES}' "
             "WHEN (CASE WHEN json_valid(metadata) THEN json_extract(metadata, '$.detections[0].label') END) "
             f"LIKE '{CAMERA_HEALTH_LABEL_PREFIX}%' THEN '{CAMERA_HEALTH}' ELSE '{DETECTIONS}' END")


def excluding(classes: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """An SQL condition (with its parameters) true for events of none of `classes`; always true for none."""
    known = tuple(name for name in CLASSES if name in classes)
    if not known:
        return "1", ()
    return f"({CLASS_SQL}) NOT IN ({', '.join('?' * len(known))})", known
