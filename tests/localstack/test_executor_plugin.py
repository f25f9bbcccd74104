"""The `jobkit-local` Lambda executor inside a running LocalStack: zip functions created and invoked with
boto3 run as local processes of Python 3.12 (no Docker), with Lambda's errors, timeouts, isolation and logs.

Needs the engine started with `LAMBDA_RUNTIME_EXECUTOR=jobkit-local` and this project installed into it
(the `localstack_host` fixture of this folder's conftest provides one).
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.timeout(300)

ROLE = "arn:aws:iam::000000000000:role/jobkit-executor-test"
APP = """
import importlib
import os
import sys
import time

import state

def _importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True

def handler(event, context):
    state.hits += 1
    print("hits", state.hits, "marker", event.get("marker"))
    action = event.get("action")
    if action == "raise":
        raise ValueError("kaput " + str(event.get("n")))
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "aws":  # reach LocalStack with the SDK the runtime provides, as a deployed function does
        import boto3
        return boto3.client("sts").get_caller_identity()["Account"]
    return {
        "hits": state.hits,
        "pid": os.getpid(),
        "python": list(sys.version_info[:2]),
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "table": os.environ.get("TABLE_NAME"),
        "importable": {name: _importable(name) for name in ("boto3", "jobkit", "moto", "localstack")},
    }
"""
BROKEN = "import jobkit  # the engine's package: never importable inside a function\n"


@dataclass(frozen=True)
class Functions:
    main: str
    twin: str
    short: str
    broken: str


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clients(localstack_host: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "endpoint_url": localstack_host.endpoint_url,
        "region_name": getattr(localstack_host, "region", "us-east-1"),
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "config": Config(retries={"total_max_attempts": 1}, read_timeout=120),
    }
    return {service: boto3.client(service, **options) for service in ("lambda", "logs")}


@pytest.fixture(scope="module")
def functions(clients: dict[str, Any]) -> Iterator[Functions]:
    lam = clients["lambda"]
    suffix = uuid.uuid4().hex[:8]
    names = Functions(*(f"jobkit-exec-{role}-{suffix}" for role in ("main", "twin", "short", "broken")))
    code = _zip({"app.py": APP, "state.py": "hits = 0\n", "broken.py": BROKEN})
    specs = [
        (names.main, "app.handler", 30),
        (names.twin, "app.handler", 30),
        (names.short, "app.handler", 1),
        (names.broken, "broken.handler", 30),
    ]
    for name, handler, timeout in specs:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": code},
            Timeout=timeout,
            MemorySize=256,
            Environment={"Variables": {"TABLE_NAME": "Jobs"}},
        )
    for name, _, _ in specs:  # creation prepares the code, interpreter and runtime packages: wait for Active
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    yield names
    for name, _, _ in specs:
        lam.delete_function(FunctionName=name)


def _invoke(clients: dict[str, Any], name: str, **event: Any) -> tuple[dict[str, Any], Any, str]:
    response = clients["lambda"].invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    payload = json.loads(response["Payload"].read())
    logs = base64.b64decode(response.get("LogResult", "")).decode()
    return response, payload, logs


def test_invocation_runs_on_python_312_and_stays_warm(clients: dict[str, Any], functions: Functions) -> None:
    first_response, first, first_logs = _invoke(clients, functions.main)
    _, second, second_logs = _invoke(clients, functions.main)

    assert "FunctionError" not in first_response
    assert [first["hits"], second["hits"]] == [1, 2] and first["pid"] == second["pid"]
    assert first["python"] == [3, 12]
    assert first["function_name"] == functions.main
    assert first["invoked_function_arn"].endswith(f":function:{functions.main}")
    assert first["memory_limit_in_mb"] == "256"
    assert 25_000 < first["remaining_ms"] <= 30_000
    assert first["table"] == "Jobs"
    assert first["importable"] == {"boto3": True, "jobkit": False, "moto": False, "localstack": False}
    assert f"START RequestId: {first['aws_request_id']} Version: $LATEST" in first_logs
    assert "Init Duration:" in first_logs and "Init Duration:" not in second_logs
    assert second_logs.rstrip().splitlines()[-1].startswith(f"REPORT RequestId: {second['aws_request_id']}\t")


def test_raised_error_is_an_unhandled_function_error(clients: dict[str, Any], functions: Functions) -> None:
    response, error, logs = _invoke(clients, functions.main, action="raise", n=7)

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "kaput 7"
    assert error["stackTrace"] and 'raise ValueError("kaput " + str(event.get("n")))' in error["stackTrace"][-1]
    assert "[ERROR] ValueError: kaput 7" in logs


def test_timeout_is_enforced_and_the_next_invocation_gets_a_fresh_environment(
    clients: dict[str, Any], functions: Functions
) -> None:
    assert _invoke(clients, functions.short)[1]["hits"] == 1

    started = time.monotonic()
    response, error, logs = _invoke(clients, functions.short, action="sleep", seconds=20)
    elapsed = time.monotonic() - started

    assert elapsed < 10
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].startswith("RequestId: ")
    assert error["errorMessage"].endswith(" Error: Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in logs and "Status: timeout" in logs
    assert _invoke(clients, functions.short)[1]["hits"] == 1  # module state is gone: a new process


def test_import_error_is_runtime_import_module_error(clients: dict[str, Any], functions: Functions) -> None:
    response, error, logs = _invoke(clients, functions.broken)

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'broken': No module named 'jobkit'"
    assert "[ERROR] Runtime.ImportModuleError" in logs


def test_functions_are_isolated_from_each_other(clients: dict[str, Any], functions: Functions) -> None:
    main = [_invoke(clients, functions.main)[1] for _ in range(2)]
    twin = _invoke(clients, functions.twin)[1]

    assert main[1]["hits"] == main[0]["hits"] + 1
    assert twin["hits"] == 1  # the same module in another function starts from scratch
    assert twin["pid"] != main[0]["pid"]


def test_function_reaches_localstack_with_the_runtime_sdk(clients: dict[str, Any], functions: Functions) -> None:
    response, account, _ = _invoke(clients, functions.main, action="aws")

    assert "FunctionError" not in response
    assert account == "000000000000"


def test_logs_reach_cloudwatch_logs(clients: dict[str, Any], functions: Functions) -> None:
    marker = uuid.uuid4().hex
    _, result, _ = _invoke(clients, functions.main, marker=marker)
    request_id = result["aws_request_id"]
    group = f"/aws/lambda/{functions.main}"

    def messages() -> list[str]:
        try:
            events = clients["logs"].filter_log_events(logGroupName=group)["events"]
        except clients["logs"].exceptions.ResourceNotFoundException:
            return []
        return [event["message"] for event in events]

    deadline = time.monotonic() + 30
    found: list[str] = []
    while time.monotonic() < deadline:
        found = messages()
        if any(f"REPORT RequestId: {request_id}" in message for message in found):
            break
        time.sleep(0.2)
    assert f"START RequestId: {request_id} Version: $LATEST\n" in found
    assert any(message.startswith("hits ") and message.rstrip().endswith(f"marker {marker}") for message in found)
    assert f"END RequestId: {request_id}\n" in found
    assert any(message.startswith(f"REPORT RequestId: {request_id}\t") for message in found)
