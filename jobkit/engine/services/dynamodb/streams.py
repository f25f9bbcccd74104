"""DynamoDB Streams' reads where moto cannot answer them: a shard iterator at a record the stream no longer
holds (a sandbox reset trims the stream, ``data.reset``) is refused with TrimmedDataAccessException, as DynamoDB
Streams refuses a record past its 24-hour trim horizon ("GetShardIterator", Errors,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html); moto's shard
would fail the call (500). Every other read goes on to moto."""

from __future__ import annotations

from typing import Any

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.errors import AwsError
from jobkit.engine.core.server import AwsCall

_AT_A_RECORD = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")


class Streams:
    def __init__(self, account: str) -> None:
        self.account = account

    def intercept_get_shard_iterator(self, request: Request, call: AwsCall) -> Response | None:
        try:
            body = call.json()
        except ValueError:
            return None
        number = body.get("SequenceNumber") if isinstance(body, dict) else None
        if body.get("ShardIteratorType") not in _AT_A_RECORD or not (isinstance(number, str) and number.isdigit()):
            return None
        shard = self._shard(str(body.get("StreamArn", "")))
        if shard is None or int(number) >= shard.starting_sequence_number:
            return None
        return AwsError("TrimmedDataAccessException",
                        f"The operation attempted to read past the oldest stream record in a shard: record {number} "
                        f"is trimmed, the shard starts at {shard.starting_sequence_number}").response(call.service)

    def _shard(self, stream_arn: str) -> Any:
        """moto's shard of the stream an ARN names (``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/
        <label>``), None if there is none."""
        parts = stream_arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("table/"):
            return None
        regions = dict.get(get_backend("dynamodb"), parts[4] or self.account)
        backend = dict.get(regions, parts[3]) if regions is not None else None
        table = backend.tables.get(parts[5].split("/")[1]) if backend is not None else None
        return table.stream_shard if table is not None else None
