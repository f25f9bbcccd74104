"""DynamoDB stream mappings created at runtime as the template deploys them: every setting, delivery until
deleted, updates of the function and the destination, other event sources and destinations refused; over boto3
against the session's engine."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine
from tests.engine.services.lambda_.conftest import sink_item, unique


# --- stream mappings --------------------------------------------------------------------------------------------
def test_a_mapping_created_at_runtime_delivers_until_it_is_deleted(
        lam: Any, deployment: Deployment, engine: EmbeddedEngine, make_function: Callable[..., str],
        make_table: Callable[[], tuple[str, str]], mappings: list[str]) -> None:
    table, stream = make_table()
    sink, _ = make_table()
    first = make_function("first", Environment={"Variables": {"SINK": sink}})
    topic = deployment.client("sns").create_topic(Name=unique("mapping-failures"))["TopicArn"]
    created = lam.create_event_source_mapping(
        FunctionName=first, EventSourceArn=stream, StartingPosition="LATEST", BatchSize=1,
        MaximumBatchingWindowInSeconds=0, ParallelizationFactor=2, MaximumRetryAttempts=1,
        MaximumRecordAgeInSeconds=3600, BisectBatchOnFunctionError=True,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]},
        DestinationConfig={"OnFailure": {"Destination": topic}})
    mappings.append(created["UUID"])
    assert created["State"] == "Creating"
    described = lam.get_event_source_mapping(UUID=created["UUID"])
    assert described["State"] == "Enabled" and described["EventSourceArn"] == stream
    assert described["FunctionArn"].endswith(f":function:{first}")
    assert (described["BatchSize"], described["ParallelizationFactor"], described["MaximumRetryAttempts"]) == (1, 2, 1)
    assert described["DestinationConfig"] == {"OnFailure": {"Destination": topic}}
    listed = lam.list_event_source_mappings(FunctionName=first)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [created["UUID"]]

    dynamodb = deployment.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "before-delete"}})
    item = wait_for(lambda: sink_item(deployment, sink, f"before-delete@{first}"), bool, timeout=20,
                    describe="the function to run on the record")
    assert item["event"]["S"] == "INSERT" and item["version"]["S"] == "first"

    deleted = lam.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["State"] == "Deleting"
    wait_for(lambda: _mapping_state(lam, created["UUID"]), lambda state: state == "gone", timeout=15,
             describe="the deleted mapping to be gone")
    # a second mapping on the same stream shows when a later record has been delivered: the first never sees it
    second = make_function("second", Environment={"Variables": {"SINK": sink}})
    mappings.append(lam.create_event_source_mapping(FunctionName=second, EventSourceArn=stream,
                                                    StartingPosition="LATEST", BatchSize=1)["UUID"])
    dynamodb.put_item(TableName=table, Item={"id": {"S": "after-delete"}})
    wait_for(lambda: sink_item(deployment, sink, f"after-delete@{second}"), bool, timeout=20,
             describe="the second mapping's function to run on the record")
    wait_for(engine.idle, bool, timeout=20, describe="every mapping done with the record")
    assert sink_item(deployment, sink, f"after-delete@{first}") is None


def _mapping_state(lam: Any, mapping: str) -> str:
    try:
        return str(lam.get_event_source_mapping(UUID=mapping)["State"])
    except lam.exceptions.ResourceNotFoundException:
        return "gone"


@pytest.mark.parametrize(("source", "named"), [
    ("arn:aws:kinesis:us-east-1:000000000000:stream/orders", "kinesis"),
    ("arn:aws:sqs:us-east-1:000000000000:orders", "sqs"),
])
def test_a_mapping_of_another_event_source_is_refused(lam: Any, make_function: Callable[..., str], source: str,
                                                      named: str) -> None:
    name = make_function("v1")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as raised:
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=source, StartingPosition="LATEST")
    assert source in raised.value.response["Error"]["Message"]
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []  # never stored


def test_a_stream_mapping_destination_or_setting_the_engine_does_not_run_is_refused(
        lam: Any, make_function: Callable[..., str], make_table: Callable[[], tuple[str, str]]) -> None:
    name = make_function("v1")
    _, stream = make_table()
    for destination in ("arn:aws:lambda:us-east-1:000000000000:function:other",
                        "arn:aws:events:us-east-1:000000000000:event-bus/default", "arn:aws:s3:::bucket"):
        with pytest.raises(lam.exceptions.InvalidParameterValueException, match="on-failure destination"):
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=stream, StartingPosition="LATEST",
                                            DestinationConfig={"OnFailure": {"Destination": destination}})
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="TumblingWindowInSeconds"):
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=stream, StartingPosition="LATEST",
                                        TumblingWindowInSeconds=30)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="Stream not found"):
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=f"{stream}x", StartingPosition="LATEST")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function not found"):
        lam.create_event_source_mapping(FunctionName=unique("missing"), EventSourceArn=stream,
                                        StartingPosition="LATEST")
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def _failing_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    raise RuntimeError('refuses every batch')\n")
    return buffer.getvalue()


def _on_failure_record(sqs: Any, queue: str) -> dict[str, Any] | None:
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    return json.loads(messages[0]["Body"]) if messages else None


def test_an_update_at_runtime_moves_the_mapping_to_another_function_and_destination(
        lam: Any, deployment: Deployment, engine: EmbeddedEngine, make_function: Callable[..., str],
        make_table: Callable[[], tuple[str, str]], mappings: list[str]) -> None:
    table, stream = make_table()
    sink, _ = make_table()
    first = make_function("first", Environment={"Variables": {"SINK": sink}})
    second = make_function("second", Environment={"Variables": {"SINK": sink}})
    failing = make_function(Code={"ZipFile": _failing_zip()})
    sqs = deployment.client("sqs")
    queues = {name: sqs.create_queue(QueueName=unique(name))["QueueUrl"] for name in ("old", "new")}
    arns = {name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for name, url in queues.items()}
    mapping = lam.create_event_source_mapping(
        FunctionName=first, EventSourceArn=stream, StartingPosition="LATEST", BatchSize=1, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arns["old"]}})["UUID"]
    mappings.append(mapping)
    dynamodb = deployment.client("dynamodb")

    updated = lam.update_event_source_mapping(UUID=mapping, FunctionName=failing, BatchSize=2,
                                              DestinationConfig={"OnFailure": {"Destination": arns["new"]}})
    assert updated["State"] == "Updating" and updated["FunctionArn"].endswith(f":function:{failing}")
    described = lam.get_event_source_mapping(UUID=mapping)
    assert described["State"] == "Enabled" and described["BatchSize"] == 2
    assert described["DestinationConfig"] == {"OnFailure": {"Destination": arns["new"]}}
    dynamodb.put_item(TableName=table, Item={"id": {"S": "refused"}})
    record = wait_for(lambda: _on_failure_record(sqs, queues["new"]), bool, timeout=30,
                      describe="the on-failure record at the new queue")
    assert record["requestContext"]["functionArn"].endswith(f":function:{failing}")
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert _on_failure_record(sqs, queues["old"]) is None

    lam.update_event_source_mapping(UUID=mapping, FunctionName=second)
    dynamodb.put_item(TableName=table, Item={"id": {"S": "moved"}})
    wait_for(lambda: sink_item(deployment, sink, f"moved@{second}"), bool, timeout=20,
             describe="the new function to run on the record")
    wait_for(engine.idle, bool, timeout=20, describe="the mapping done with the record")
    assert sink_item(deployment, sink, f"moved@{first}") is None

    before = lam.get_event_source_mapping(UUID=mapping)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="BatchSize"):
        lam.update_event_source_mapping(UUID=mapping, BatchSize=20_000)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="TumblingWindowInSeconds"):
        lam.update_event_source_mapping(UUID=mapping, TumblingWindowInSeconds=30)
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function not found"):
        lam.update_event_source_mapping(UUID=mapping, FunctionName=unique("missing"))
    assert lam.get_event_source_mapping(UUID=mapping) == before | {"ResponseMetadata": ANY}


def test_an_update_to_a_function_already_mapped_to_the_stream_is_a_conflict(
        lam: Any, make_function: Callable[..., str], make_table: Callable[[], tuple[str, str]],
        mappings: list[str]) -> None:
    _, stream = make_table()
    first, second = make_function("first"), make_function("second")
    made = [lam.create_event_source_mapping(FunctionName=name, EventSourceArn=stream,
                                            StartingPosition="LATEST")["UUID"] for name in (first, second)]
    mappings.extend(made)
    with pytest.raises(lam.exceptions.ResourceConflictException, match=made[1]):
        lam.update_event_source_mapping(UUID=made[0], FunctionName=second)
    assert lam.get_event_source_mapping(UUID=made[0])["FunctionArn"].endswith(f":function:{first}")
