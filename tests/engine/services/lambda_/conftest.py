"""Fixtures of the Lambda API tests against the session's engine: a role, functions of a small handler (from a
.zip), tables with a stream, mappings; each test's own, deleted after it."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

#: returns its version, its greeting variable and the event (after ``sleep`` seconds, once ``started`` is
#: written); writes each stream record's key, with its own name, to the SINK table
HANDLER = '''
import json, os, time
import boto3

VERSION = "{version}"
SINK = os.environ.get("SINK")
TABLE = boto3.resource("dynamodb").Table(SINK) if SINK else None


def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    if event.get("started"):
        open(event["started"], "w").close()
    time.sleep(event.get("sleep", 0))
    for record in event.get("Records", []):
        TABLE.put_item(Item={{"id": record["dynamodb"]["Keys"]["id"]["S"] + "@" + context.function_name,
                             "version": VERSION, "event": record["eventName"]}})
    return {{"version": VERSION, "greeting": os.environ.get("GREETING"), "event": event}}
'''


def zip_of(version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", textwrap.dedent(HANDLER.format(version=version)))
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def role(deployment: Deployment) -> str:
    arn: str = deployment.client("iam").create_role(RoleName=unique("runtime-fn"),
                                                    AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return arn


@pytest.fixture
def lam(deployment: Deployment) -> Any:
    return deployment.client("lambda")


@pytest.fixture
def make_function(lam: Any, role: str) -> Iterator[Callable[..., str]]:
    """Creates functions (a .zip of HANDLER unless ``Code`` is given); deletes what is left of them after."""
    made: list[str] = []

    def make(version: str = "v1", **settings: Any) -> str:
        name = unique("fn")
        args: dict[str, Any] = {"FunctionName": name, "Runtime": "python3.12", "Role": role,
                                "Handler": "app.handler", "Code": {"ZipFile": zip_of(version)}, "Timeout": 10}
        lam.create_function(**{**args, **settings})
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=name)


@pytest.fixture
def make_table(deployment: Deployment) -> Iterator[Callable[[], tuple[str, str]]]:
    """Tables with a NEW_IMAGE stream: (name, stream ARN)."""
    dynamodb = deployment.client("dynamodb")
    made: list[str] = []

    def make() -> tuple[str, str]:
        name = unique("runtime-table")
        table = dynamodb.create_table(
            TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
        made.append(name)
        return name, table["LatestStreamArn"]

    yield make
    for name in made:
        dynamodb.delete_table(TableName=name)


@pytest.fixture
def mappings(lam: Any) -> Iterator[list[str]]:
    """UUIDs of mappings a test created, deleted after it if it did not."""
    made: list[str] = []
    yield made
    for mapping in made:
        with contextlib.suppress(ClientError):
            lam.delete_event_source_mapping(UUID=mapping)


def invoke(lam: Any, name: str, event: dict[str, Any] | None = None) -> Any:
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())


def sink_item(deployment: Deployment, table: str, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = deployment.client("dynamodb").get_item(
        TableName=table, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
    return item
