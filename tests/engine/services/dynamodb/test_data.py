"""The reset of DynamoDB's data in moto: items and stream records gone, tables and streams kept, sequence
numbers going on, readers' shard iterators moved to the new start; an iterator asked at a trimmed record is
refused as DynamoDB Streams refuses it.

The reset of a whole account runs on moto's models of an account of its own: the session engine's table stays
as its tests left it (a job of theirs may still be in flight)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.backends import get_backend

from jobkit.client.deployment import Deployment
from jobkit.engine.moto.writes import WRITE_LOCK
from jobkit.engine.services.dynamodb import data

ACCOUNT, REGION = "111122223333", "us-east-1"
KEY = [{"AttributeName": "id", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "id", "AttributeType": "S"}]
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


@pytest.fixture
def backends() -> Iterator[tuple[Any, Any]]:
    dynamodb, streams = get_backend("dynamodb")[ACCOUNT][REGION], get_backend("dynamodbstreams")[ACCOUNT][REGION]
    yield dynamodb, streams
    dynamodb.reset()
    streams.reset()


def test_reset_empties_every_table_and_stream_and_keeps_them(backends: tuple[Any, Any]) -> None:
    dynamodb, streams = backends
    with_stream = dynamodb.create_table("with-stream", schema=KEY, throughput=None, attr=ATTRIBUTES,
                                        global_indexes=None, indexes=None, streams=STREAM,
                                        billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                                        deletion_protection_enabled=False, warm_throughput=None)
    dynamodb.create_table("without", schema=KEY, throughput=None, attr=ATTRIBUTES, global_indexes=None,
                          indexes=None, streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None,
                          tags=[], deletion_protection_enabled=False, warm_throughput=None)
    for table, key in (("with-stream", "a"), ("with-stream", "b"), ("with-stream", "c"), ("without", "x")):
        dynamodb.put_item(table, {"id": {"S": key}})
    stream_arn = f"{with_stream.table_arn}/stream/{with_stream.latest_stream_label}"
    shard = with_stream.stream_shard

    def iterator(kind: str, number: int | None = None) -> str:
        return str(streams.get_shard_iterator(stream_arn, shard.id, kind, number).arn)

    def read(position: str) -> list[int]:
        return [int(r["dynamodb"]["SequenceNumber"]) for r in streams.get_records(position, 100)["Records"]]

    from_start = iterator("TRIM_HORIZON")
    old = read(iterator("TRIM_HORIZON"))
    midway = iterator("AFTER_SEQUENCE_NUMBER", old[0])

    with WRITE_LOCK:
        cleared = data.reset(ACCOUNT, {})

    assert cleared == {"tables": 2, "items": 4, "streamRecords": 3}
    assert len(with_stream) == 0 and len(dynamodb.get_table("without")) == 0
    assert with_stream.stream_shard is shard and with_stream.latest_stream_label  # the stream stays
    assert read(from_start) == [] and read(midway) == [] and read(iterator("TRIM_HORIZON")) == []
    dynamodb.put_item("with-stream", {"id": {"S": "new"}})
    new = read(from_start)  # a reader's iterator from before yields the new record only
    assert len(new) == 1 and new[0] > old[-1]  # numbers go on: never an old record's
    assert read(iterator("TRIM_HORIZON")) == new


def test_an_iterator_at_a_trimmed_record_is_refused_as_dynamodb_streams_refuses_it(deployment: Deployment) -> None:
    dynamodb, streams = deployment.client("dynamodb"), deployment.client("dynamodbstreams")
    name = f"trim-{uuid.uuid4().hex[:8]}"
    created = dynamodb.create_table(TableName=name, KeySchema=KEY, AttributeDefinitions=ATTRIBUTES,
                                    BillingMode="PAY_PER_REQUEST", StreamSpecification=STREAM)["TableDescription"]
    stream_arn = created["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    dynamodb.put_item(TableName=name, Item={"id": {"S": "old"}})
    first = streams.get_records(ShardIterator=streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])["Records"][0]
    number = first["dynamodb"]["SequenceNumber"]
    account, region = created["TableArn"].split(":")[4], created["TableArn"].split(":")[3]
    with WRITE_LOCK:  # this table only: the session's own stays as its tests left it
        data.empty(get_backend("dynamodb")[account][region].tables[name], [])
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with pytest.raises(ClientError) as refused:
            streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType=kind,
                                       SequenceNumber=number)
        assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    dynamodb.put_item(TableName=name, Item={"id": {"S": "new"}})
    start = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0][
        "SequenceNumberRange"]["StartingSequenceNumber"]
    at_start = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=start)["ShardIterator"]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in streams.get_records(ShardIterator=at_start)["Records"]] == ["new"]
    dynamodb.delete_table(TableName=name)
