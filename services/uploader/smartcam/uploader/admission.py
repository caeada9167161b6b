"""What the uploader lets into its queue: events of this device only.

The wire protocol already bounds ids where they enter (event and camera ids match `wire.ID_PATTERN`,
`rejected.bad_id` otherwise), and CURVE admits only infer (`pipeline_gate`). This adds what only the
uploader knows: the camera id must be this device's `SMARTCAM_CAMERA_ID`, so nothing on the pipeline can
upload under another camera's name with this device's credentials.
"""

from __future__ import annotations

import logging

from smartcam.common.counters import Counters
from smartcam.common.logs import OncePerKind
from smartcam.common.settings import env_name
from smartcam.common.wire import Event


class Admission:
    """Checks each received event; a refusal is counted (`events.not_admitted.<kind>`), logged once, not stored."""

    def __init__(self, camera_id: str, logger: logging.Logger, counters: Counters) -> None:
        self._camera_id = camera_id
        self._refused = OncePerKind(logger, counters, "events.not_admitted")

    def refusal(self, event: Event) -> str | None:
        """Why `event` may not be stored, or None when it may."""
        if event.camera_id != self._camera_id:
            reason = (f"camera id {event.camera_id!r} is not this device's ({env_name('camera_id')}="
                      f"{self._camera_id!r}); capture and the uploader must share one SMARTCAM_CAMERA_ID")
            self._refused.report("camera_id", f"refused event {event.event_id}: {reason}")
            return reason
        return None
