"""Fixtures of the embedded engine's tests: fakes for the compute plane, a bare endpoint. The session's engine
(``engine``, ``deployment``) is in ``tests/conftest.py``, shared with the other folders that need one."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from jobkit.engine.core.server import EngineApp, EngineServer
from jobkit.lambda_runtime.function import InvocationResult


@pytest.fixture
def moto_endpoint() -> Iterator[Callable[[str], Any]]:
    """A bare engine endpoint (moto behind it) and a boto3 client factory for it."""
    server = EngineServer(EngineApp(), port=0)
    server.start()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    yield lambda service: session.client(service, endpoint_url=server.url)
    server.stop()


def result(payload: Any = None, *, error: str | None = None, request_id: str = "req-1") -> InvocationResult:
    """An InvocationResult as the local runtime returns it."""
    if error is not None:
        body = json.dumps({"errorMessage": error, "errorType": error, "requestId": request_id, "stackTrace": []})
    else:
        body = json.dumps(payload)
    return InvocationResult(request_id=request_id, payload=body.encode(), is_error=error is not None,
                            error_type=error, logs="", duration_ms=1.0, billed_duration_ms=1, init_duration_ms=None,
                            max_memory_used_mb=1)


@dataclass
class FakeInvoker:
    """Stands in for LambdaService: records each event and answers with ``respond(event)``."""

    respond: Callable[[dict[str, Any]], InvocationResult] = field(default=lambda event: result(None))
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult:
        event = json.loads(payload)
        with self.lock:
            self.calls.append(event)
        return self.respond(event)

    def arn_of(self, function: str) -> str:
        return function if function.startswith("arn:") else f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
