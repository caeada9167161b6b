"""The hostile pipeline peers of bench/hostile-memory; each runs inside a container on the stack's pipeline network.

A keyed peer is the worst case: a compromised container holding infer's key pair (the pipeline-keys volume
mounted read-only, the pair loaded through `pipeline_keys` the way infer loads it). It passes the CURVE
handshake and ZAP gate, so what it sends reaches the receivers' size limits (ZMQ_MAXMSGSIZE) and parsers
(`wire.decode`, the uploader's admission), which is what the bench measures. The unkeyed peer (plain ZeroMQ,
and CURVE with a key pair of its own) shows the other finding: it is refused at the handshake.

Each role prints one JSON object: what it sent (by the reject kind the receiver should count it under) and
what it met (handshakes, disconnects, replies).

    python hostile_peers.py unkeyed | uploader-oversized | uploader-malformed | uploader-largest
                          | uploader-multipart | capture-oversized | capture-malformed
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

KEYS_DIR = Path("/var/lib/smartcam/pipeline-keys")
ENDPOINTS = {"capture": "tcp://capture:5555", "uploader": "tcp://uploader:5556"}
OVERSIZED_PART_BYTES = 400 * 2**20  # over every receiver's ZMQ_MAXMSGSIZE (capture 64 KiB, uploader 64 MiB)
LARGEST_PART_BYTES = 60 * 2**20  # under the uploader's 64 MiB per part: parsed
LARGEST_EVENTS = 4
MULTIPART_PARTS = 8  # 8 parts of 60 MiB: each under the per-part limit, 480 MiB in all
FLOOD_MESSAGES = 20_000
OVERFLOWING_TIME = "9999-12-31T23:59:59-23:59"
HEADER_TOO_LARGE_BYTES = 64 * 1024 + 16  # over wire.MAX_HEADER_BYTES, under the uploader's per-part limit
HANDSHAKE_WAIT_S = 10.0
REFUSAL_WAIT_S = 6.0
MONITORED = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH | \
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
EVENT_NAMES: dict[int, str] = {zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake", zmq.EVENT_DISCONNECTED: "disconnected",
               zmq.EVENT_HANDSHAKE_FAILED_AUTH: "refused_auth", zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "refused_protocol",
               zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "refused_no_detail"}

Context = zmq.Context[zmq.Socket[bytes]]
Parts = list[bytes]


# -- messages -------------------------------------------------------------------------------------------------------


def header(message_type: str, version: int = 1, **fields: object) -> bytes:
    return json.dumps({"smartcam": version, "type": message_type, **fields}, ensure_ascii=False).encode()


def event_header(event_id: str, captured_at: str = "2024-05-01T12:00:00Z") -> bytes:
    return header("event", event_id=event_id, camera_id="rogue", seq=1, captured_at=captured_at, location=None,
                  detections=[], model={"name": "rogue", "sha256": "0" * 64}, sample=False,
                  content_type="image/jpeg")


JPEG = b"\xff\xd8\xff\xd9"
FORGED_FRAME = [header("frame", camera_id="rogue", seq=1, captured_at=OVERFLOWING_TIME, location=None,
                       parts=[{"name": "main", "pixel_format": "GRAY8", "shape": [1, 1]}]), b"\x00"]
# Malformed or poisoned messages, each with the reject kind its receiver counts it under (`rejected.<kind>`).
MALFORMED: list[tuple[str, Parts]] = [
    ("foreign", [b"\xff\xfe not a JSON header"]),
    ("foreign", [b'{"type": "event"}']),
    ("version", [header("event", version=99)]),
    ("unknown_type", [header("gimme")]),
    ("payload_count", [event_header("no-image")]),
    ("payload_count", [event_header("two-images"), JPEG, JPEG]),
    ("bad_id", [event_header("poison-€"), JPEG]),
    ("bad_id", [event_header("poison\r\nX-Injected: 1"), JPEG]),
    ("bad_time", [event_header("poison-time", OVERFLOWING_TIME), JPEG]),
    ("bad_time", FORGED_FRAME),
]
HEADER_TOO_LARGE: Parts = [b'{"smartcam": 1, "type": "event", "pad": "' + b"x" * HEADER_TOO_LARGE_BYTES + b'"}']


# -- sockets --------------------------------------------------------------------------------------------------------


def infer_curve(server: str) -> Callable[[zmq.Socket[bytes]], None]:
    """Infer's own key pair and `server`'s published key, read from the mounted volume as infer reads them."""
    from smartcam.common.pipeline_keys import CurveClient, own_keys, read_public_key  # noqa: PLC0415 (in the image)

    keys = own_keys(KEYS_DIR, "infer")  # infer made it: read, never made here (the volume is mounted read-only)
    server_key = read_public_key(KEYS_DIR, server)
    if server_key is None:
        raise SystemExit(f"{server} has published no key in {KEYS_DIR}")
    return CurveClient(keys, server_key).apply


def own_curve(server_key: bytes) -> Callable[[zmq.Socket[bytes]], None]:
    """CURVE with a key pair of the peer's own: the server's key is public, the client's is not infer's."""
    public, secret = zmq.curve_keypair()

    def apply(socket: zmq.Socket[bytes]) -> None:
        socket.curve_publickey, socket.curve_secretkey, socket.curve_serverkey = public, secret, server_key
    return apply


class Peer:
    """A DEALER towards one server, with a monitor that records what happened to its connection."""

    def __init__(self, context: Context, server: str, curve: Callable[[zmq.Socket[bytes]], None] | None) -> None:
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RECONNECT_IVL, -1)  # one connection: a reconnect cut short would count as refused
        if curve is not None:
            curve(self.socket)
        self.monitor = self.socket.get_monitor_socket(MONITORED)
        self.seen: list[str] = []
        self.started = time.monotonic()
        self.socket.connect(ENDPOINTS[server])

    def watch(self, seconds: float, until: str | None = None) -> bool:
        """Record monitor events for up to `seconds`; True once `until` is seen."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and self.monitor.poll(int(left * 1000) + 1):
            event = int(recv_monitor_message(self.monitor)["event"])
            self.seen.append(EVENT_NAMES.get(event, str(event)))
            if self.seen[-1] == until:
                return True
        return until is not None and until in self.seen

    def handshake(self) -> None:
        if not self.watch(HANDSHAKE_WAIT_S, "handshake"):
            raise SystemExit(f"no CURVE handshake within {HANDSHAKE_WAIT_S:.0f}s (seen: {self.seen})")

    def replies(self, seconds: float, enough: int | None = None) -> list[str]:
        """Headers of what came back within `seconds`, or of the first `enough` replies (shortened)."""
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while (enough is None or len(got) < enough) and (left := deadline - time.monotonic()) > 0 \
                and self.socket.poll(int(left * 1000) + 1):
            got.append(self.socket.recv_multipart()[0].decode(errors="replace")[:160])
        return got

    def facts(self) -> dict[str, object]:
        return {"connection": dict(Counter(self.seen))}

    def close(self) -> None:
        self.socket.disable_monitor()
        self.monitor.close(linger=0)
        self.socket.close(linger=0)


def send_all(peer: Peer, messages: list[tuple[str, Parts]]) -> dict[str, int]:
    """Send each message; how many went out per expected reject kind."""
    for _, parts in messages:
        peer.socket.send_multipart(parts)
    return dict(Counter(kind for kind, _ in messages))


def flood(peer: Peer, messages: list[tuple[str, Parts]], count: int) -> tuple[dict[str, int], float]:
    """`count` messages cycled from `messages` as fast as the socket takes them; per kind, and the rate per second."""
    started = time.monotonic()
    chosen = [messages[i % len(messages)] for i in range(count)]
    sent = send_all(peer, chosen)
    return sent, round(count / max(time.monotonic() - started, 1e-6))


# -- roles ----------------------------------------------------------------------------------------------------------


def unkeyed(context: Context) -> dict[str, object]:
    """Both servers, without CURVE and with a key pair of its own: no handshake, no reply, nothing parsed."""
    from smartcam.common.pipeline_keys import read_public_key  # noqa: PLC0415 (in the image)

    report: dict[str, object] = {}
    peers: dict[str, Peer] = {}
    for server in ENDPOINTS:
        server_key = read_public_key(KEYS_DIR, server)  # public keys are not secrets: the volume's .key file
        if server_key is None:
            raise SystemExit(f"{server} has published no key in {KEYS_DIR}")
        for how, curve in (("plain", None), ("own_curve_key", own_curve(server_key))):
            peer = Peer(context, server, curve)
            peer.socket.send_multipart([header("frame_request")] if server == "capture" else MALFORMED[0][1])
            peers[f"{server}_{how}"] = peer
    for name, peer in peers.items():
        peer.watch(REFUSAL_WAIT_S if name == next(iter(peers)) else 0.5)
        report[name] = {"sent": 1, **peer.facts(), "replies": peer.replies(0.2)}
        peer.close()
    return report


def oversized(context: Context, server: str) -> dict[str, object]:
    """One part far over the receiver's ZMQ_MAXMSGSIZE: it must disconnect the peer, not allocate the part."""
    peer = Peer(context, server, infer_curve(server))
    peer.handshake()
    big = bytearray(OVERSIZED_PART_BYTES)
    first = event_header("rogue-big") if server == "uploader" else header("frame_request")
    sent_at = time.monotonic()
    peer.socket.send_multipart([first, big], copy=False)
    disconnected = peer.watch(30.0, "disconnected")
    report = {"sent": 1, "part_bytes": len(big), **peer.facts(), "disconnected": disconnected,
              "after_s": round(time.monotonic() - sent_at, 1)}
    peer.close()
    return report


def malformed(context: Context, server: str) -> dict[str, object]:
    """Each malformed kind once, then a flood of them; every one must be parsed, counted and dropped."""
    peer = Peer(context, server, infer_curve(server))
    peer.handshake()
    report: dict[str, object] = {}
    messages = list(MALFORMED)
    if server == "uploader":  # at capture a header this large is over its 64 KiB part limit: a disconnect, not parsed
        messages.append(("header_too_large", HEADER_TOO_LARGE))
    else:  # capture serves frames: an event there is well-formed but unexpected
        messages.append(("unexpected_event", [event_header("rogue-event"), JPEG]))
        peer.socket.send_multipart([header("frame_request")])
        report["frame_before"] = bool(peer.replies(10.0, enough=1))
    once = send_all(peer, messages)
    small = [message for message in messages if message[0] != "header_too_large"]
    flooded, report["flood_per_s"] = flood(peer, small, FLOOD_MESSAGES)
    report["sent"] = sum(once.values()) + sum(flooded.values())
    report["expected"] = {f"rejected.{kind}": count for kind, count in (Counter(once) + Counter(flooded)).items()}
    if server == "capture":  # a frame request after all that: capture still serves
        peer.replies(0.5)  # anything already on its way
        peer.socket.send_multipart([header("frame_request")])
        report["frame_after"] = bool(peer.replies(10.0, enough=1))
    else:
        report["replies"] = peer.replies(1.0)
    report.update(peer.facts())
    peer.close()
    return report


def largest(context: Context) -> dict[str, object]:
    """Events with an image part just under the uploader's limit: parsed, refused by camera id, acknowledged."""
    peer = Peer(context, "uploader", infer_curve("uploader"))
    peer.handshake()
    image = bytearray(LARGEST_PART_BYTES)
    for number in range(LARGEST_EVENTS):
        peer.socket.send_multipart([event_header(f"rogue-largest-{number}"), image], copy=False)
    replies = peer.replies(20.0, enough=LARGEST_EVENTS)
    report = {"sent": LARGEST_EVENTS, "part_bytes": len(image), "acks": len(replies),
              "expected": {"events.not_admitted.camera_id": LARGEST_EVENTS},
              "stored": sum('"stored": true' in reply or '"stored":true' in reply for reply in replies),
              **peer.facts()}
    peer.close()
    return report


def multipart(context: Context) -> dict[str, object]:
    """One event of many parts, each under the per-part limit: ZeroMQ holds a whole message before handing it over."""
    peer = Peer(context, "uploader", infer_curve("uploader"))
    peer.handshake()
    part = bytearray(LARGEST_PART_BYTES)
    sent_at = time.monotonic()
    peer.socket.send_multipart([event_header("rogue-multipart"), *([part] * MULTIPART_PARTS)], copy=False)
    disconnected = peer.watch(30.0, "disconnected")
    report = {"sent": 1, "parts": MULTIPART_PARTS, "part_bytes": len(part),
              "message_bytes": MULTIPART_PARTS * len(part), "replies": peer.replies(1.0), **peer.facts(),
              "disconnected": disconnected, "after_s": round(time.monotonic() - sent_at, 1)}
    peer.close()
    return report


ROLES: dict[str, Callable[[Context], dict[str, object]]] = {
    "unkeyed": unkeyed,
    "uploader-oversized": lambda context: oversized(context, "uploader"),
    "uploader-malformed": lambda context: malformed(context, "uploader"),
    "uploader-largest": largest,
    "uploader-multipart": multipart,
    "capture-oversized": lambda context: oversized(context, "capture"),
    "capture-malformed": lambda context: malformed(context, "capture"),
}


def main() -> int:
    context: Context = zmq.Context()
    try:
        report = ROLES[sys.argv[1]](context)
    finally:
        context.destroy(linger=0)
    print(json.dumps(report, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
