"""Demo sink: a real HTTP server on loopback receiving real JPEG events."""

import base64
import io
import json
import logging
import threading
from pathlib import Path

import pytest
import requests
from PIL import Image

from smartcam.common.health import HealthReporter
from smartcam.demo_sink.server import EventStore, serve

PHOTO = Path(__file__).resolve().parents[3] / "services/capture/photos/astronaut.jpg"


@pytest.fixture
def sink(tmp_path):
    store = EventStore(tmp_path / "events", logging.getLogger("test"))
    server = serve(0, store, HealthReporter(tmp_path / "health.json", "demo_sink"), logging.getLogger("test"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", store.folder
    server.shutdown()


def payload(event_id="e1"):
    return {"event_id": event_id, "camera_id": "cam", "captured_at": "2026-11-27T03:30:00.000Z", "location": None,
            "detections": [{"label": "face", "score": 0.9, "box": [0.35, 0.16, 0.53, 0.34]}],
            "model": {"name": "m", "sha256": "0" * 64}, "sample": False,
            "image": {"content_type": "image/jpeg", "data": base64.b64encode(PHOTO.read_bytes()).decode()}}


def test_event_is_saved_once_as_json_and_annotated_jpeg(sink):
    url, folder = sink
    first = requests.post(url, json=payload(), headers={"Idempotency-Key": "e1"}, timeout=5)
    again = requests.post(url, json=payload(), headers={"Idempotency-Key": "e1"}, timeout=5)
    assert (first.status_code, again.status_code) == (201, 200)
    saved = sorted(p.name for p in folder.iterdir())
    assert saved == ["2026-11-27T03_30_00.000Z_e1.jpg", "2026-11-27T03_30_00.000Z_e1.json"]
    metadata = json.loads((folder / saved[1]).read_text())
    assert metadata["image"] == {"content_type": "image/jpeg", "bytes": PHOTO.stat().st_size}
    annotated = Image.open(io.BytesIO((folder / saved[0]).read_bytes())).convert("RGB")
    original = Image.open(PHOTO).convert("RGB")
    assert annotated.size == original.size
    # The box outline is drawn in red along the box's left edge, where the photo itself is not red.
    x = int(0.35 * original.width)
    for y in range(int(0.2 * original.height), int(0.3 * original.height), 8):
        red, green, blue = annotated.getpixel((x, y))
        assert red - max(green, blue) > 80, (x, y, annotated.getpixel((x, y)), original.getpixel((x, y)))
        red, green, blue = original.getpixel((x, y))
        assert red - max(green, blue) < 80


@pytest.mark.parametrize("body", [b"not json", b'{"event_id": "x"}', json.dumps(
    {**payload(), "image": {"data": "%%%not base64"}}).encode()])
def test_bad_payloads_are_answered_400_with_the_reason(sink, body):
    url, folder = sink
    response = requests.post(url, data=body, timeout=5)
    assert response.status_code == 400
    assert "not a smartcam JSON event" in response.json()["message"]
    assert not list(folder.iterdir())


def test_captions_name_the_zones_and_are_drawn_on_a_dark_band():
    from smartcam.demo_sink.annotate import caption, draw_detections  # noqa: PLC0415

    person = {"label": "person", "score": 0.83, "box": [0.1, 0.3, 0.6, 0.99], "zones": ["road", "gate"]}
    assert caption(person) == "person 0.83 @ road, gate"
    assert caption({"label": "cat", "score": 0.5, "box": [0, 0, 1, 1]}) == "cat 0.50"
    annotated = Image.open(io.BytesIO(draw_detections(PHOTO.read_bytes(), [person]))).convert("L")
    original = Image.open(PHOTO).convert("L")
    top = int(0.3 * original.height) - 8  # inside the caption band just above the box
    band = [annotated.getpixel((x, top)) for x in range(int(0.1 * original.width) + 4, int(0.1 * original.width) + 60)]
    assert sum(1 for value in band if value < 40) > len(band) // 3
