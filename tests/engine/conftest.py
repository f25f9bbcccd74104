"""Fixtures of the embedded engine's tests: one engine per session (start ~2 s), fakes for the compute plane."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from jobkit.client.deployment import Deployment
from jobkit.engine.core.server import EngineApp, EngineServer
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.lambda_runtime.function import InvocationResult

ROOT = Path(__file__).resolve().parents[2]
CDK_OUT = ROOT / "cdk.out"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEngine]:
    if not (CDK_OUT / "JobsStack.template.json").is_file():
        pytest.skip("cdk.out is not synthesized (make synth)")
    outputs = tmp_path_factory.mktemp("engine") / "cdk-outputs.json"
    running = EmbeddedEngine(port=0, out=None)
    running.start(CDK_OUT, outputs, time_scale=1.0)
    running.outputs_file = outputs  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="session")
def deployment(engine: EmbeddedEngine) -> Deployment:
    return Deployment.load(engine.outputs_file, target="embedded")  # type: ignore[attr-defined]


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
