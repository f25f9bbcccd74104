"""The jobs table behind ``handlers.domain.locking.JobStore`` (and ``VersionBumper`` for faults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from handlers.adapters.clients import LazyClient
from handlers.domain.locking import VersionConflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def deserialize_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON (``{"S": ...}``) to Python values (N as Decimal)."""
    return {key: _deserializer.deserialize(value) for key, value in image.items()}


class DynamoJobStore:
    """Consistent reads and conditional status writes on the jobs table (partition key ``id``)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = LazyClient("dynamodb", client)

    @property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client, created on first use."""
        client: DynamoDBClient = self._client.get()
        return client

    def get_item(self, job_id: str) -> dict[str, Any] | None:
        """The item with a consistent read: the version read must be the latest one."""
        response = self.client.get_item(TableName=self.table_name, Key={"id": {"S": job_id}}, ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else deserialize_image(item)

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        """``SET job_status.#c = :s, version = :new`` if ``version = :expected``, else VersionConflict."""
        new_version = (expected_version or 0) + 1
        names: dict[str, str] = {}
        values: dict[str, Any] = {":new": {"N": str(new_version)}}
        if create_map:
            update = "SET job_status = :m, version = :new"
            values[":m"] = _serializer.serialize({consumer: dict(status)})
        else:
            update = "SET job_status.#c = :s, version = :new"
            names["#c"] = consumer
            values[":s"] = _serializer.serialize(dict(status))
        if expected_version is None:
            condition = "attribute_exists(id) AND attribute_not_exists(version)"
        else:
            condition = "version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"id": {"S": job_id}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            # a lost race returns the item as it now is, so the retry needs no read and no read capacity
            # (DynamoDB API Reference: "UpdateItem", ReturnValuesOnConditionCheckFailure; the item comes back
            # as the Item member of "ConditionalCheckFailedException")
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self.client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                found = exc.response.get("Item")  # present with ALL_OLD
                current = deserialize_image(found) if isinstance(found, dict) and found else None
                raise VersionConflict(job_id, expected_version, current) from exc
            raise

    def bump_version(self, job_id: str) -> None:
        """Increment ``version`` alone, as a concurrent writer would (the ``conflict`` fault)."""
        self.client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": job_id}},
            UpdateExpression="SET version = if_not_exists(version, :zero) + :one",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        )
