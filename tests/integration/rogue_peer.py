"""A rogue peer on the `pipeline` network: asks capture for a frame and sends the uploader a forged event.

Runs inside a container (python3 and pyzmq of any smartcam image) that joins the pipeline network but
mounts no pipeline-keys volume. It tries each server twice at once: without CURVE, and with CURVE using a
key pair of its own and the server's real public key (public keys are not secret; given as argv).
Prints one JSON object: what it got back from each attempt, and whether it can see any key file.

    python rogue_peer.py <capture public key> <uploader public key> <camera id> <seconds to wait>
"""

import json
import sys
import time
from pathlib import Path

import zmq


def header(message_type, **fields):
    return json.dumps({"smartcam": 1, "type": message_type, **fields}).encode()


def forged_event(event_id, camera_id):
    return [header("event", event_id=event_id, camera_id=camera_id, seq=1,
                   captured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), location=None, detections=[],
                   model={"name": "rogue", "sha256": "0" * 64}, sample=False, content_type="image/jpeg"),
            b"\xff\xd8\xff\xd9"]


def peer(context, endpoint, server_key):
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        public, secret = zmq.curve_keypair()
        socket.curve_publickey, socket.curve_secretkey, socket.curve_serverkey = public, secret, server_key
    socket.connect(endpoint)
    return socket


def main():
    capture_key, uploader_key, camera_id, wait_s = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3], float(
        sys.argv[4])
    context = zmq.Context()
    attempts = {}
    for how, curve in (("plain", False), ("own_curve_key", True)):
        frames = peer(context, "tcp://capture:5555", capture_key if curve else None)
        frames.send_multipart([header("frame_request")])
        events = peer(context, "tcp://uploader:5556", uploader_key if curve else None)
        events.send_multipart(forged_event(f"rogue-{how.replace('_', '-')}", camera_id))
        attempts[f"frame_{how}"] = frames
        attempts[f"event_{how}"] = events
    replies = {name: [] for name in attempts}
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for name, socket in attempts.items():
            while socket.poll(0):
                replies[name].append([len(part) for part in socket.recv_multipart()])
        time.sleep(0.05)
    keys_visible = sorted(str(p) for p in Path("/").glob("var/lib/smartcam/**/*.key*"))
    print(json.dumps({"replies": replies, "keys_visible": keys_visible}), flush=True)
    context.destroy(linger=0)


main()
