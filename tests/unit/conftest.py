"""Shared fixtures: environment, moto (DynamoDB table with a NEW_IMAGE stream, SSM), Lambda context."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto import mock_aws

from handlers import error_handler, processor, runtime
from handlers.domain.faults import FaultClock
from jobkit.engine import moto as engine_moto
from tests.unit.fakes import RecordingClock

TABLE_NAME = "jobkit-unit-jobs"
REGION = "us-east-1"
FAULT_PREFIX = "/jobkit/faults/"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment the stack gives consumer_1's functions; never a real endpoint or profile."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in {
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "FAULT_PLAN_PREFIX",
            "JOBKIT_TIME_SCALE",
        }:
            monkeypatch.delenv(name)
    # botocore 1.44 sends calls naming a StreamArn to {account}.streams-ddb.{region}.amazonaws.com,
    # a host in-process moto 5.2.5 does not route; the classic endpoint is what moto serves.
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("CONSUMER_ID", "consumer_1")
    monkeypatch.setenv("OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("TIMEOUT", "300")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "jobkit-unit")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def aws() -> Iterator[None]:
    """Every boto3 call goes to moto, whose conditional writes are made atomic as DynamoDB's (and the
    engine's) are: without that, racing consumers lose updates in moto, not in the code under test."""
    engine_moto.install()
    with mock_aws():
        yield


@dataclass
class JobsTable:
    """The jobs table (partition key ``id``, stream NEW_IMAGE) in moto, with test helpers."""

    name: str
    client: Any
    streams: Any

    @property
    def stream_arn(self) -> str:
        arn: str = self.client.describe_table(TableName=self.name)["Table"]["LatestStreamArn"]
        return arn

    @property
    def shard_id(self) -> str:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        shard: str = shards[0]["ShardId"]
        return shard

    def put_job(
        self,
        job_id: str,
        seconds: int,
        *,
        fault: str | None = None,
        job_status: dict[str, Any] | None = None,
        version: int | None = 0,
    ) -> dict[str, Any]:
        """Insert a job as the API does; return the INSERT stream record it produced."""
        item: dict[str, Any] = {"id": job_id, "seconds": seconds, "job_status": job_status or {}}
        if version is not None:
            item["version"] = version
        if fault is not None:
            item["fault"] = fault
        self.client.put_item(TableName=self.name, Item={k: _serializer.serialize(v) for k, v in item.items()})
        return self.stream_records()[-1]

    def item(self, job_id: str) -> dict[str, Any]:
        raw = self.client.get_item(TableName=self.name, Key={"id": {"S": job_id}}, ConsistentRead=True)
        return {k: _deserializer.deserialize(v) for k, v in raw["Item"].items()}

    def status(self, job_id: str, consumer: str = "consumer_1") -> dict[str, Any] | None:
        status: dict[str, Any] | None = self.item(job_id).get("job_status", {}).get(consumer)
        return status

    def version(self, job_id: str) -> int:
        value = self.item(job_id)["version"]
        assert isinstance(value, Decimal)
        return int(value)

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record of the stream so far, oldest first (GetRecords from TRIM_HORIZON)."""
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = self.streams.get_records(ShardIterator=iterator)["Records"]
        return records

    def stream_statuses(self, job_id: str, consumer: str = "consumer_1") -> list[str | None]:
        """The status of ``consumer`` in each stream record of the job: the history of writes."""
        history: list[str | None] = []
        for record in self.stream_records():
            image = record["dynamodb"].get("NewImage", {})
            if image.get("id", {}).get("S") != job_id:
                continue
            statuses = _deserializer.deserialize(image.get("job_status", {"M": {}}))
            history.append(statuses.get(consumer, {}).get("status"))
        return history


@pytest.fixture
def jobs_table(aws: None) -> JobsTable:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE_NAME,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return JobsTable(TABLE_NAME, client, boto3.client("dynamodbstreams", region_name=REGION))


@dataclass
class FaultPlans:
    """Fault plans as SSM parameters in moto, with FAULT_PLAN_PREFIX set (fault injection on)."""

    client: Any
    prefix: str

    def put(self, name: str, *faults: dict[str, Any]) -> None:
        self.client.put_parameter(
            Name=f"{self.prefix}{name}",
            Type="String",
            Value=json.dumps({"faults": list(faults)}),
            Overwrite=True,
        )


@pytest.fixture
def fault_plans(aws: None, monkeypatch: pytest.MonkeyPatch) -> FaultPlans:
    monkeypatch.setenv("FAULT_PLAN_PREFIX", FAULT_PREFIX)
    return FaultPlans(boto3.client("ssm", region_name=REGION), FAULT_PREFIX)


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object the handlers (and Powertools) read."""

    remaining_millis: int = 60_000
    function_name: str = "jobkit-processor-consumer_1"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:jobkit-processor-consumer_1"
    memory_limit_in_mb: int = 128
    aws_request_id: str = "8f5b3a5c-2f6e-4b8e-9d4e-5d6c7b8a9f01"
    log_group_name: str = "/aws/lambda/jobkit-processor-consumer_1"
    log_stream_name: str = "2023/11/14/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record time.sleep calls instead of sleeping (the handlers sleep through the time module)."""
    recorded: list[float] = []
    monkeypatch.setattr("time.sleep", recorded.append)
    return recorded


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def fault_clock(clock: RecordingClock) -> FaultClock:
    return FaultClock(sleep=clock.sleep, sleep_real=clock.sleep_real, remaining_seconds=clock.remaining_seconds)


@pytest.fixture
def handler_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Read the JSON log lines both handlers (and the domain loggers) wrote during the test."""
    stream = io.StringIO()
    handlers = {processor.logger.registered_handler, error_handler.logger.registered_handler}
    previous = [(h, h.setStream(stream)) for h in handlers if isinstance(h, logging.StreamHandler)]

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield read
    for handler, old in previous:
        if old is not None:
            handler.setStream(old)
