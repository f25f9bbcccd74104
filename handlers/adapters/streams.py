"""Reads a failed record back from the table's DynamoDB stream (``domain.error_handling.StreamReader``).

The on-failure record carries only ``DDBStreamBatchInfo`` (streamArn, shardId, startSequenceNumber), see
"Using AWS Lambda with Amazon DynamoDB" (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from handlers.adapters.clients import LazyClient
from handlers.adapters.dynamodb import deserialize_image
from handlers.domain.error_handling import StreamRecordUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

EMPTY_READS: Final = 3
"""GetRecords may answer with no record before reaching data; follow NextShardIterator this many times."""


class DynamoStreamReader:
    """GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords Limit 1."""

    def __init__(self, client: DynamoDBStreamsClient | None = None) -> None:
        self._client = LazyClient("dynamodbstreams", client)

    @property
    def client(self) -> DynamoDBStreamsClient:
        """The DynamoDB Streams client, created on first use."""
        client: DynamoDBStreamsClient = self._client.get()
        return client

    def read_new_image(self, stream_arn: str, shard_id: str, sequence_number: str) -> dict[str, Any]:
        """The NewImage of the record at ``sequence_number``; StreamRecordUnavailable if unreadable."""
        where = f"stream {stream_arn} shard {shard_id} sequence number {sequence_number}"
        try:
            iterator: str | None = self.client.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=sequence_number,
            )["ShardIterator"]
            records: list[Any] = []
            for _ in range(EMPTY_READS):
                if not iterator:
                    break
                response = self.client.get_records(ShardIterator=iterator, Limit=1)
                records = list(response.get("Records", []))
                if records:
                    break
                iterator = response.get("NextShardIterator")
        except (ClientError, BotoCoreError) as exc:
            raise StreamRecordUnavailable(f"cannot read the failed record at {where}: {exc}") from exc
        if not records:
            raise StreamRecordUnavailable(f"no record at {where} (trimmed after 24 h, or another stream?)")
        stream_record: dict[str, Any] = dict(records[0].get("dynamodb", {}))
        found = stream_record.get("SequenceNumber")
        if found is not None and found != sequence_number:
            raise StreamRecordUnavailable(f"the record at {where} is gone: the stream answered {found}")
        image = stream_record.get("NewImage")
        if not image:
            raise StreamRecordUnavailable(
                f"the record at {where} has no NewImage: the stream view type must include NEW_IMAGE"
            )
        return deserialize_image(image)
