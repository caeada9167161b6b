"""Run inside a container on the `docker-api` network: send each attempt (JSON on stdin) to docker-api as raw
HTTP, byte for byte as given, and print {id: [status, answer]} as JSON. Standard library only.

Raw sockets, not an HTTP client, so that chunked bodies, doubled headers and undecoded paths go out as written.
"""

import json
import socket
import sys

HOST, PORT = "docker-api", 2375


def send(attempt: dict) -> list:
    body = attempt["raw"].encode() if attempt.get("raw") is not None else (
        json.dumps(attempt["body"]).encode() if attempt.get("body") is not None else b"")
    headers = {"Host": "docker-api", "Content-Type": "application/json", **attempt.get("headers", {})}
    if attempt.get("chunked"):
        headers["Transfer-Encoding"] = "chunked"
        half = len(body) // 2
        parts = [part for part in (body[:half], body[half:]) if part]
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    elif "Content-Length" not in headers and (body or attempt["method"] in ("POST", "PUT")):
        headers["Content-Length"] = str(len(body))
    lines = [f"{attempt['method']} {attempt['path']} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"{k}: {v}" for k, v in attempt.get("extra_headers", [])]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection((HOST, PORT), timeout=60) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return [status, payload.decode(errors="replace")[:4000]]


def main() -> None:
    results = {}
    for attempt in json.load(sys.stdin):
        try:
            results[attempt["id"]] = send(attempt)
        except OSError as error:
            results[attempt["id"]] = [0, f"connection failed: {error}"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
