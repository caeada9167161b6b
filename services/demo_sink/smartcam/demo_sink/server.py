"""HTTP server that accepts smartcam uploads and writes each event to a folder.

It accepts the documented JSON payload (`smartcam.common.contracts.event.EventBody`) and saves
`<captured_at>_<event_id>.json` (the payload without the image data) plus `.jpg` (the uploaded image
with its boxes drawn). A repeated Idempotency-Key is answered 200 and not written twice, as a real
target should do.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartcam.common.contracts.event import EventBody
from smartcam.common.health import HealthReporter
from smartcam.demo_sink.annotate import caption, draw_detections

MAX_BODY_BYTES = 32 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class PayloadError(ValueError):
    """The request body is not a smartcam event."""


def parse_event(body: bytes) -> tuple[dict[str, Any], bytes]:
    """Validate the JSON payload with the uploader's own model; return its metadata and the decoded JPEG."""
    try:
        event = EventBody.model_validate_json(body)
        jpeg = base64.b64decode(event.image.data, validate=True)
    except (ValidationError, binascii.Error) as error:
        raise PayloadError(f"not a smartcam JSON event: {error}") from error
    metadata = event.model_dump(mode="json", exclude={"image"})
    metadata["image"] = {"content_type": event.image.content_type, "bytes": len(jpeg)}
    return metadata, jpeg


class EventStore:
    """Writes events into a folder, once per event id."""

    def __init__(self, folder: Path, logger: logging.Logger) -> None:
        self.folder = folder
        self._logger = logger
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, metadata: dict[str, Any], jpeg: bytes) -> bool:
        """Save the event; False if it was already saved (same event id)."""
        stem = _SAFE_NAME.sub("_", f"{metadata['captured_at']}_{metadata['event_id']}")
        json_path = self.folder / f"{stem}.json"
        if json_path.exists():
            return False
        try:
            annotated = draw_detections(jpeg, metadata["detections"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._logger.warning("event %s: image could not be annotated (%s); saving it as sent",
                                 metadata["event_id"], error)
            annotated = jpeg
        (self.folder / f"{stem}.jpg").write_bytes(annotated)
        json_path.write_text(json.dumps(metadata, indent=2))
        return True


def make_handler(store: EventStore, health: HealthReporter, logger: logging.Logger) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "smartcam-demo-sink"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.BAD_REQUEST, f"body length {length} outside 1..{MAX_BODY_BYTES}")
                return
            body = self.rfile.read(length)
            try:
                metadata, jpeg = parse_event(body)
            except PayloadError as error:
                self._answer(HTTPStatus.BAD_REQUEST, str(error))
                return
            created = store.save(metadata, jpeg)
            labels = ", ".join(caption(d) for d in metadata["detections"]) or "none"
            logger.info("%s event %s from %s at %s: detections [%s]%s",
                        "saved" if created else "repeated", metadata["event_id"], metadata["camera_id"],
                        metadata["captured_at"], labels, " (baseline sample)" if metadata.get("sample") else "")
            health.working(last_event=metadata["event_id"])
            self._answer(HTTPStatus.CREATED if created else HTTPStatus.OK, "stored")

        def do_GET(self) -> None:
            self._answer(HTTPStatus.OK, "smartcam demo sink: POST events here")

        def _answer(self, status: HTTPStatus, text: str) -> None:
            data = json.dumps({"status": status.value, "message": text}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return Handler


def serve(port: int, store: EventStore, health: HealthReporter, logger: logging.Logger) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(store, health, logger))
    server.daemon_threads = True
    return server
