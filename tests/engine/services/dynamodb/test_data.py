"""The reset of DynamoDB's data in moto: items and stream records gone, tables and streams kept, sequence
numbers going on, readers' shard iterators moved to the new start."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

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
