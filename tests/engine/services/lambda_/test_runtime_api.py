"""Functions served at runtime as the template deploys them: created from a .zip or a local folder, their code
and configuration updated, deleted; their asynchronous invocation settings; over boto3 against the session's
engine, as a user drives it."""

from __future__ import annotations

import io
import json
import textwrap
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from tests.engine.services.lambda_.conftest import HANDLER, invoke, unique, zip_of


# --- functions ----------------------------------------------------------------------------------------------
def test_a_function_created_from_a_zip_is_active_and_runs_on_the_engine(lam: Any, deployment: Deployment,
                                                                         make_function: Callable[..., str]) -> None:
    name = make_function("v1")
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert (configuration["State"], configuration["LastUpdateStatus"]) == ("Active", "Successful")
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"

    assert invoke(lam, name, {"hello": 1}) == {"version": "v1", "greeting": None, "event": {"hello": 1}}
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    logs = deployment.client("logs")
    events = wait_for(lambda: logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"],
                      lambda found: any(e["message"].startswith("REPORT RequestId") for e in found),
                      timeout=10, describe="the engine's REPORT line in the function's log group")
    assert [e for e in events if e["message"].startswith("START RequestId")]  # the engine's runtime ran it
    mentions = [m for group in _log_groups(logs) for m in _messages(logs, group) if "docker" in m.lower()]
    assert mentions == []  # moto never reached for Docker, in any log group of the sandbox


def _log_groups(logs: Any) -> list[str]:
    return [g["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate()
            for g in page["logGroups"]]


def _messages(logs: Any, group: str) -> list[str]:
    return [e["message"] for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            for e in page["events"]]


def test_a_function_of_a_local_folder_is_recycled_when_the_folder_changes(lam: Any, role: str, tmp_path: Path,
                                                                          make_function: Callable[..., str]) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER.format(version="folder-1")))
    name = make_function(Code={"S3Bucket": "hot-reload", "S3Key": str(tmp_path)})
    assert invoke(lam, name)["version"] == "folder-1"  # a warm environment now holds the module
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER.format(version="folder-two")))
    wait_for(lambda: invoke(lam, name)["version"], lambda version: version == "folder-two", timeout=15,
             describe="the changed folder in the next environment")


def test_update_function_code_changes_what_the_next_invocation_runs(lam: Any,
                                                                     make_function: Callable[..., str]) -> None:
    name = make_function("v1")
    first = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    assert invoke(lam, name)["version"] == "v1"
    answer = lam.update_function_code(FunctionName=name, ZipFile=zip_of("v2"))
    assert answer["CodeSha256"] != first
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert invoke(lam, name)["version"] == "v2"


def test_an_invocation_under_way_finishes_on_the_code_it_started_with(lam: Any, tmp_path: Path,
                                                                      make_function: Callable[..., str]) -> None:
    name = make_function("v1")
    started = tmp_path / "started"
    answers: list[Any] = []
    running = threading.Thread(target=lambda: answers.append(invoke(lam, name, {"started": str(started),
                                                                                  "sleep": 2})), daemon=True)
    running.start()
    wait_for(started.exists, bool, timeout=15, describe="the first invocation under way")
    lam.update_function_code(FunctionName=name, ZipFile=zip_of("v2"))
    assert invoke(lam, name)["version"] == "v2"  # a new environment, while the old one still runs
    running.join(15)
    assert answers and answers[0]["version"] == "v1"


def test_update_function_configuration_reaches_the_function(lam: Any, make_function: Callable[..., str]) -> None:
    name = make_function("v1", Environment={"Variables": {"GREETING": "hello"}})
    assert invoke(lam, name)["greeting"] == "hello"
    answer = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "bonjour"}},
                                               Timeout=20, MemorySize=256)
    assert answer["LastUpdateStatus"] == "Successful" and answer["Timeout"] == 20
    assert invoke(lam, name)["greeting"] == "bonjour"
    configuration = lam.get_function_configuration(FunctionName=name)
    assert configuration["Environment"] == {"Variables": {"GREETING": "bonjour"}}
    assert (configuration["Timeout"], configuration["MemorySize"]) == (20, 256)


def test_a_deleted_function_is_not_found(lam: Any, make_function: Callable[..., str]) -> None:
    name = make_function("v1")
    invoke(lam, name)
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=name, Payload=b"{}")
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"] == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


def test_a_zip_that_would_write_outside_its_folder_is_refused(lam: Any, role: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escaped.py", "x = 1\n")
    name = unique("fn")
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="outside its folder"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": buffer.getvalue()})
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)  # nothing stored


# --- asynchronous invocation ----------------------------------------------------------------------------------
def test_the_on_failure_destination_of_an_event_invoke_config_receives_the_failure(
        lam: Any, deployment: Deployment, make_function: Callable[..., str]) -> None:
    sqs = deployment.client("sqs")
    queue = sqs.create_queue(QueueName=unique("failures"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = make_function("v1")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=600,
                                         DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    stored = lam.get_function_event_invoke_config(FunctionName=name)
    assert stored["MaximumRetryAttempts"] == 0 and stored["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn

    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')["StatusCode"] == 202
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []),
                        bool, timeout=20, describe="the failure record in the queue")
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1  # MaximumRetryAttempts 0: no retry
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestPayload"] == {"fail": True}
    assert record["responsePayload"]["errorMessage"] == "asked to fail"

    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name)


def test_an_event_invoke_destination_the_engine_cannot_deliver_to_is_refused(
        lam: Any, make_function: Callable[..., str]) -> None:
    name = make_function("v1")
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="arn:aws:s3:::bucket"):
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::bucket"}})
