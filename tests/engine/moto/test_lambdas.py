"""moto's Lambda behind the engine stores functions and never runs one: no Docker, no trigger inside a write;
a second PutFunctionEventInvokeConfig is what Get reads back."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from moto.utilities.docker_utilities import DockerModel

from jobkit.engine.moto.lambdas import NOT_RUN_ERROR

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every use of moto's Docker client, recorded (and refused)."""
    used: list[str] = []

    def docker_client(self: Any) -> Any:
        used.append(type(self).__name__)
        raise AssertionError("moto reached for Docker")

    monkeypatch.setattr(DockerModel, "docker_client", property(docker_client))
    return used


def _function(client: Any, iam: Any) -> str:
    name = f"f-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    client.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                           Code={"ZipFile": _zip()})
    return name


def test_moto_runs_no_function_code(moto_endpoint: Callable[[str], Any], no_docker: list[str]) -> None:
    lam = moto_endpoint("lambda")
    name = _function(lam, moto_endpoint("iam"))
    answer = lam.invoke(FunctionName=name, Payload=b"{}")  # the bare endpoint: moto's own Invoke
    assert answer["FunctionError"] and json.loads(answer["Payload"].read())["errorType"] == NOT_RUN_ERROR
    assert no_docker == []


def test_a_write_triggers_nothing_and_the_stream_keeps_its_records(moto_endpoint: Callable[[str], Any],
                                                                   no_docker: list[str]) -> None:
    lam, dynamodb, streams = moto_endpoint("lambda"), moto_endpoint("dynamodb"), moto_endpoint("dynamodbstreams")
    table = f"t-{uuid.uuid4().hex[:8]}"
    stream_arn = dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"][
        "LatestStreamArn"]
    lam.create_event_source_mapping(FunctionName=_function(lam, moto_endpoint("iam")), EventSourceArn=stream_arn,
                                    StartingPosition="TRIM_HORIZON")  # moto's own mapping: a trigger per write
    for n in range(3):
        dynamodb.put_item(TableName=table, Item={"id": {"S": f"j-{n}"}})
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["j-0", "j-1", "j-2"]
    assert no_docker == []


def test_put_overwrites_and_update_merges_the_event_invoke_config(moto_endpoint: Callable[[str], Any]) -> None:
    lam = moto_endpoint("lambda")
    name = _function(lam, moto_endpoint("iam"))
    queue = "arn:aws:sqs:us-east-1:000000000000:q"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=600)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert config["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in config  # Put replaces all
    lam.update_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue}})
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert config["MaximumRetryAttempts"] == 0 and config["DestinationConfig"]["OnFailure"]["Destination"] == queue


def test_a_functions_logging_config_is_kept_and_answered(moto_endpoint: Callable[[str], Any]) -> None:
    lam = moto_endpoint("lambda")
    name = _function(lam, moto_endpoint("iam"))
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == {
        "LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}  # Lambda's defaults
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON", "LogGroup": "/own"})
    assert lam.get_function(FunctionName=name)["Configuration"]["LoggingConfig"] == {
        "LogFormat": "JSON", "LogGroup": "/own", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}
