"""A DynamoDB write that changes nothing writes no stream record ("Change data capture for DynamoDB Streams":
"If you perform a PutItem or UpdateItem operation that does not change any data in an item, DynamoDB Streams
does not write a stream record for that operation"); moto alone writes a MODIFY for each."""

from __future__ import annotations

import uuid
from typing import Any

from jobkit.client.deployment import Deployment


def _records(deployment: Deployment, stream_arn: str) -> list[dict[str, Any]]:
    streams = deployment.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


def test_a_put_or_update_that_changes_nothing_writes_no_stream_record(deployment: Deployment) -> None:
    dynamodb = deployment.client("dynamodb")
    name = f"unchanged-{uuid.uuid4().hex[:8]}"
    stream = dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    try:
        item = {"id": {"S": "a"}, "n": {"N": "10"}, "m": {"M": {"k": {"L": [{"S": "v"}]}}}}
        dynamodb.put_item(TableName=name, Item=item)
        dynamodb.put_item(TableName=name, Item=item)  # the same item again
        dynamodb.put_item(TableName=name, Item={**item, "n": {"N": "10.0"}})  # the same number
        dynamodb.update_item(TableName=name, Key={"id": {"S": "a"}}, UpdateExpression="SET n = :n",
                             ExpressionAttributeValues={":n": {"N": "10"}})
        dynamodb.update_item(TableName=name, Key={"id": {"S": "a"}}, UpdateExpression="SET n = :n",
                             ExpressionAttributeValues={":n": {"N": "11"}})  # a change
        dynamodb.put_item(TableName=name, Item=item)  # back: a change too
        records = _records(deployment, stream)
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
        assert [r["dynamodb"]["NewImage"]["n"]["N"] for r in records] == ["10", "11", "10"]
    finally:
        dynamodb.delete_table(TableName=name)
