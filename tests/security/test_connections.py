"""Stalled clients, oversized bodies and broken framing: each is answered (or closed) without holding a thread,
reading a body it will refuse, or taking a body's bytes for a request."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests

from jobkit.engine.core.server import IDLE_TIMEOUT, MAX_CONNECTIONS, EngineServer
from tests.reliability.conftest import Sandbox
from tests.security.wire import exchange, peer_closed, request

STALLED = 200


def _clock(sandbox: Sandbox) -> float:
    return float(requests.get(f"{sandbox.engine.endpoint_url}/_jobkit/clock", timeout=10).json()["now"])


@pytest.fixture
def short_idle(sandbox: Sandbox) -> Iterator[EngineServer]:
    """The sandbox's application on a second port whose idle timeout is half a second (the engine's is 30 s)."""
    server = EngineServer(sandbox.engine.app, port=0, idle_timeout=0.5)  # type: ignore[arg-type]
    server.start()
    yield server
    server.stop()


def test_a_silent_connection_is_closed(short_idle: EngineServer) -> None:
    assert IDLE_TIMEOUT == 30
    with socket.create_connection(("127.0.0.1", short_idle.port)) as conn:
        assert peer_closed(conn, 5), "a connection that sent nothing was kept open"


def test_an_idle_keep_alive_is_closed(short_idle: EngineServer) -> None:
    with socket.create_connection(("127.0.0.1", short_idle.port)) as conn:
        conn.sendall(request("GET", "/_localstack/health"))
        first = conn.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        assert peer_closed(conn, 5), "an idle kept connection was not closed"


def test_a_client_stalled_inside_its_headers_is_closed(short_idle: EngineServer) -> None:
    with socket.create_connection(("127.0.0.1", short_idle.port)) as conn:
        conn.sendall(b"POST /_jobkit/clock HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert peer_closed(conn, 5)


@pytest.mark.control
def test_stalled_clients_do_not_keep_a_real_request_waiting(sandbox: Sandbox) -> None:
    assert MAX_CONNECTIONS > STALLED
    with ExitStack() as stack:
        for _ in range(STALLED):
            stack.enter_context(socket.create_connection(("127.0.0.1", sandbox.engine.server.port)))
        began = time.monotonic()
        answer = requests.get(f"{sandbox.engine.endpoint_url}/_localstack/health", timeout=10)
        took = time.monotonic() - began
    assert answer.status_code == 200
    assert took < 2, f"a real request took {took:.2f} s behind {STALLED} stalled clients"


def test_connections_beyond_the_cap_are_answered_503(sandbox: Sandbox) -> None:
    server = EngineServer(sandbox.engine.app, port=0, max_connections=4)  # type: ignore[arg-type]
    server.start()
    try:
        with ExitStack() as stack:
            held = [stack.enter_context(socket.create_connection(("127.0.0.1", server.port))) for _ in range(4)]
            answer = exchange(server.port, request("GET", "/_localstack/health"))
            assert answer.status == 503, answer
            assert "at most 4 connections" in answer.json()["message"]
            held[0].close()
            deadline = time.monotonic() + 5
            while (status := exchange(server.port, request("GET", "/_localstack/health")).status) != 200:
                assert time.monotonic() < deadline, f"still {status} after a connection closed"
                time.sleep(0.05)  # polling the server until it has counted the closed connection
    finally:
        server.stop()


def test_an_oversized_body_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    """A 64 MiB Content-Length, no body sent: the 413 comes on the headers alone."""
    head = request("POST", "/restapis/any/dev/_user_request_/jobs", headers={
        "Content-Length": str(64 * 1024 * 1024), "Content-Type": "application/json"})
    answer = exchange(sandbox.engine.server.port, head, timeout=5)
    assert answer.status == 413, answer
    assert answer.json() == {"message": "Request Too Long"}
    assert answer.headers["x-amzn-errortype"] == "RequestTooLargeException"


def test_an_oversized_aws_call_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    head = request("POST", "/", headers={
        "Content-Length": str(17 * 1024 * 1024), "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    answer = exchange(sandbox.engine.server.port, head, timeout=5)
    assert answer.status == 413, answer
    assert "16777216 bytes" in answer.json()["message"]


def test_an_oversized_chunked_body_is_refused(sandbox: Sandbox) -> None:
    chunk = b"a" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(16)) + b"0\r\n\r\n"
    answer = exchange(sandbox.engine.server.port, request("POST", "/_jobkit/clock", body, headers={
        "Transfer-Encoding": "chunked"}))
    assert answer.status == 413, answer


@pytest.mark.parametrize("length", ["-1", "+0", "0x10", "1e2", " 5 5", "٣"])
def test_a_content_length_that_is_not_digits_is_refused_and_nothing_is_smuggled(sandbox: Sandbox,
                                                                                  length: str) -> None:
    """A negative Content-Length counted as 0 made the body a second request: here it would move the clock."""
    before = _clock(sandbox)
    smuggled = request("POST", "/_jobkit/clock", b'{"advance": 86400}', headers={"Content-Type": "application/json"})
    head = f"POST /_jobkit/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n".encode()
    answer = exchange(sandbox.engine.server.port, head + smuggled)
    assert answer.status == 400, answer
    assert "Content-Length" in answer.json()["message"]
    assert answer.closed
    assert _clock(sandbox) - before < 3600, "the smuggled request moved the clock"


def test_two_framings_at_once_are_refused(sandbox: Sandbox) -> None:
    before = _clock(sandbox)
    smuggled = request("POST", "/_jobkit/clock", b'{"advance": 86400}')
    head = (b"POST /_jobkit/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    answer = exchange(sandbox.engine.server.port, head + smuggled)
    assert answer.status == 400, answer
    assert _clock(sandbox) - before < 3600


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n",
                                    b"2" * 40 + b"\r\n", b"2;" + b"x" * 5000 + b"\r\n{}\r\n0\r\n\r\n"])
def test_a_malformed_chunk_gets_an_answer(sandbox: Sandbox, chunks: bytes) -> None:
    answer = exchange(sandbox.engine.server.port, request("POST", "/_jobkit/clock", chunks, headers={
        "Transfer-Encoding": "chunked"}))
    assert answer.status == 400, answer
    assert answer.json()["message"]


@pytest.mark.control
def test_a_well_formed_chunked_body_is_served(sandbox: Sandbox) -> None:
    answer = exchange(sandbox.engine.server.port, request("POST", "/_jobkit/clock", b"2\r\n{}\r\n0\r\n\r\n",
                                                          headers={"Transfer-Encoding": "chunked"}))
    assert answer.status == 200, answer
    assert answer.json()["scale"] > 0
