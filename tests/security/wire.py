"""Raw HTTP on a socket: what a hostile client sends, byte for byte, and what came back."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int | None  # None: the connection ended (or timed out) without an answer
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(port: int, data: bytes, *, timeout: float = 5.0) -> Answer:
    """Sends ``data`` on a new connection and reads until the server closes it or ``timeout`` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        closed = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if _complete(received):
                break
        answer = parse(received)
        if answer.status is not None and not closed:
            closed = answer.headers.get("connection", "").lower() == "close" and peer_closed(conn)
        answer.closed = closed
        return answer


def _complete(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def peer_closed(conn: socket.socket, timeout: float = 3.0) -> bool:
    """True once the server has closed ``conn`` (within ``timeout``)."""
    conn.settimeout(timeout)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def parse(received: bytes) -> Answer:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return Answer(None, {}, b"", False)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body, False)


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed HTTP/1.1 request's bytes (Host 127.0.0.1 unless given)."""
    fields = {"Host": "127.0.0.1", **(headers or {})}
    if body and "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + body
