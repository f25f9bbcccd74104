"""What a function sees: its own interpreter, its own modules, Lambda's environment and context object."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.lambda_runtime.conftest import MakeFunction
from tests.lambda_runtime.helpers import new_request_id

PROBE = """
import importlib
import os
import sys
import tempfile

import state

def _importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True

def handler(event, context):
    state.hits += 1
    import boto3
    return {
        "hits": state.hits,
        "version": list(sys.version_info[:2]),
        "path": sys.path,
        "boto3": boto3.__version__,
        "importable": {name: _importable(name) for name in ("jobkit", "moto", "pytest", "localstack", "pip")},
        "env": dict(os.environ),
        "tmp": tempfile.gettempdir(),
        "cwd": os.getcwd(),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "client_context": context.client_context,
        },
    }
"""
FILES = {"app.py": PROBE, "state.py": "hits = 0\n"}


def test_functions_do_not_share_module_state(make_function: MakeFunction) -> None:
    first, second = make_function(FILES), make_function(FILES)

    hits = [first.invoke(b"{}", new_request_id()).json()["hits"] for _ in range(2)]
    other = second.invoke(b"{}", new_request_id()).json()

    assert hits == [1, 2]
    assert other["hits"] == 1  # same module name, separate process


def test_function_runs_on_its_runtime_python_without_the_engines_packages(
    make_function: MakeFunction, runtime_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))  # must not reach the function
    function = make_function(FILES)

    seen = function.invoke(b"{}", new_request_id()).json()

    assert seen["version"] == [3, 12]
    assert seen["path"][:2] == [str(function.config.code_dir), str(runtime_packages)]
    assert not any("site-packages" in entry for entry in seen["path"])
    assert seen["boto3"] == "1.44.8"  # what the runtime provides
    assert seen["importable"] == {"jobkit": False, "moto": False, "pytest": False, "localstack": False, "pip": False}
    assert seen["cwd"] == str(function.config.code_dir)


def test_environment_is_lambdas_not_the_engines(make_function: MakeFunction, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBKIT_ENGINE_SECRET", "must-not-leak")
    monkeypatch.setenv("AWS_PROFILE", "developer")
    function = make_function(
        FILES, name="jobs-processor", memory_size=256, timeout=30, environment={"TABLE_NAME": "Jobs", "TZ": "x"}
    )

    env = function.invoke(b"{}", new_request_id(), trace_id="Root=1-abc").json()["env"]

    assert env["TABLE_NAME"] == "Jobs"
    assert env["TZ"] == "x"  # the function's own variables win over defaults
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(function.config.code_dir)
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "jobs-processor"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/jobs-processor"
    assert env["_X_AMZN_TRACE_ID"] == "Root=1-abc"
    assert "JOBKIT_ENGINE_SECRET" not in env and "AWS_PROFILE" not in env and "VIRTUAL_ENV" not in env
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"


def test_each_environment_has_a_private_tmp_that_goes_away(make_function: MakeFunction) -> None:
    function = make_function(FILES)
    tmp = Path(function.invoke(b"{}", new_request_id()).json()["tmp"])

    assert tmp.is_dir() and tmp != Path("/tmp")
    function.stop()
    assert not tmp.exists()


def test_an_environments_tmp_goes_under_the_root_it_is_given(make_function: MakeFunction, tmp_path: Path) -> None:
    """A sandbox keeps its functions' /tmp in the project's folders, not the machine's /tmp."""
    root = tmp_path / "scratch"
    root.mkdir()
    function = make_function(FILES, tmp_root=root)
    tmp = Path(function.invoke(b"{}", new_request_id()).json()["tmp"])

    assert tmp.parent == root
    function.stop()
    assert list(root.iterdir()) == []


def test_context_object(make_function: MakeFunction) -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:jobs-processor"
    function = make_function(FILES, name="jobs-processor", memory_size=512, timeout=30, function_arn=arn)
    request_id = new_request_id()

    context = function.invoke(b"{}", request_id).json()["context"]
    aliased = function.invoke(b"{}", new_request_id(), invoked_function_arn=arn + ":live").json()["context"]

    assert context["function_name"] == "jobs-processor"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == arn
    assert aliased["invoked_function_arn"] == arn + ":live"
    assert context["memory_limit_in_mb"] == "512"  # Lambda's Python runtime reads it from the environment
    assert context["aws_request_id"] == request_id
    assert context["log_group_name"] == "/aws/lambda/jobs-processor"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    assert 25_000 < context["remaining"] <= 30_000
    assert context["identity"] == [None, None] and context["client_context"] is None


def test_engine_provided_reserved_variables_win(make_function: MakeFunction) -> None:
    """An engine (LocalStack) computes the log stream, credentials and region itself; keep them."""
    function = make_function(
        FILES,
        environment={
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]feedface",
            "AWS_REGION": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "LSIA",
            "LAMBDA_TASK_ROOT": "/var/task",
        },
    )

    seen = function.invoke(b"{}", new_request_id()).json()

    assert seen["context"]["log_stream_name"] == "2026/01/01/[$LATEST]feedface"
    assert seen["env"]["AWS_REGION"] == "eu-central-1"
    assert seen["env"]["AWS_ACCESS_KEY_ID"] == "LSIA"
    assert seen["env"]["LAMBDA_TASK_ROOT"] == str(function.config.code_dir)  # where the code really is


def test_payload_round_trip_keeps_unicode(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "def handler(event, context):\n    return event\n"})
    payload = {"text": "naïve ☃", "n": [1, 2.5, None, True]}

    result = function.invoke(json.dumps(payload).encode(), new_request_id())

    assert result.json() == payload
