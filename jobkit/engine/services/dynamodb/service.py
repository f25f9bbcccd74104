"""DynamoDB in the engine: moto serves the tables and their streams; the engine refuses reads of trimmed stream
records as DynamoDB Streams does (``streams``)."""

from __future__ import annotations

from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.dynamodb.streams import Streams


def start(ctx: EngineContext) -> Streams:
    streams = Streams(ctx.account)
    # DynamoDB Streams signs as dynamodb; no DynamoDB action has this name
    ctx.app.intercept("dynamodb", "GetShardIterator", streams.intercept_get_shard_iterator)
    return streams
