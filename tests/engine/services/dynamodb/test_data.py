"""The reset of DynamoDB's data in moto: items and stream records gone, tables and streams kept, sequence
numbers going on, readers' shard iterators moved to the new start; an iterator asked at a trimmed record is
refused as DynamoDB Streams refuses it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.engine.moto.writes import WRITE_LOCK
from jobkit.engine.services.dynamodb import data


def test_reset_empties_tables_and_streams_and_keeps_them(moto_endpoint: Callable[[str], Any]) -> None:
    dynamodb, streams = moto_endpoint("dynamodb"), moto_endpoint("dynamodbstreams")
    name = f"reset-{uuid.uuid4().hex[:8]}"
    table = dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    stream_arn = table["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def iterator(kind: str, **at: str) -> str:
        return str(streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType=kind,
                                              **at)["ShardIterator"])

    def read(position: str) -> tuple[list[str], str]:
        answer = streams.get_records(ShardIterator=position)
        return [r["dynamodb"]["SequenceNumber"] for r in answer["Records"]], answer["NextShardIterator"]

    for key in "abc":
        dynamodb.put_item(TableName=name, Item={"id": {"S": key}})
    from_start = iterator("TRIM_HORIZON")
    old, _ = read(iterator("TRIM_HORIZON"))
    midway = iterator("AFTER_SEQUENCE_NUMBER", SequenceNumber=old[0])
    account = table["TableArn"].split(":")[4]

    with WRITE_LOCK:
        cleared = data.reset(account, {})

    assert cleared["items"] >= 3 and cleared["streamRecords"] >= 3 and cleared["tables"] >= 1
    assert dynamodb.scan(TableName=name)["Items"] == []
    assert dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"] == stream_arn
    assert read(from_start)[0] == [] and read(midway)[0] == [] and read(iterator("TRIM_HORIZON"))[0] == []
    dynamodb.put_item(TableName=name, Item={"id": {"S": "new"}})
    new, _ = read(from_start)  # a reader's iterator from before yields the new record only
    assert len(new) == 1 and int(new[0]) > int(old[-1])  # numbers go on: never an old record's
    assert read(iterator("TRIM_HORIZON"))[0] == new
    dynamodb.delete_table(TableName=name)


def test_an_iterator_at_a_trimmed_record_is_refused_as_dynamodb_streams_refuses_it(deployment: Deployment) -> None:
    dynamodb, streams = deployment.client("dynamodb"), deployment.client("dynamodbstreams")
    name = f"trim-{uuid.uuid4().hex[:8]}"
    stream_arn = dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"][
        "LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    dynamodb.put_item(TableName=name, Item={"id": {"S": "old"}})
    first = streams.get_records(ShardIterator=streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])["Records"][0]
    number = first["dynamodb"]["SequenceNumber"]
    with WRITE_LOCK:
        data.reset(stream_arn.split(":")[4], {})
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
