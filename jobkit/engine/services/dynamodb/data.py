"""The sandbox's DynamoDB data in moto's models, cleared by a reset: every table's items and stream records.
Tables, their settings and streams stay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobkit.engine.core.service import moto_backends


def reset(account: str, outputs: Mapping[str, str]) -> dict[str, int]:
    """Empties every table and its stream shard. The shard's sequence numbers go on from where they were, so a
    new record never takes an old one's number (and the hop log's lookups stay right); a shard iterator kept by
    a reader moves to the new start, so it yields new records only. The caller holds ``WRITE_LOCK``."""
    tables = items = records = 0
    iterators = [it for backend in moto_backends("dynamodbstreams", account)
                 for it in list(backend.shard_iterators.values())]
    for backend in moto_backends("dynamodb", account):
        for table in list(backend.tables.values()):
            tables += 1
            items += len(table)
            table.items.clear()
            shard = table.stream_shard
            if shard is not None:
                records += len(shard.items)
                _trim(shard, iterators)
    return {"tables": tables, "items": items, "streamRecords": records}


def _trim(shard: Any, iterators: list[Any]) -> None:
    shard.starting_sequence_number += len(shard.items)
    shard.items = []
    for iterator in iterators:
        if iterator.stream_shard is shard and iterator.sequence_number < shard.starting_sequence_number:
            iterator.sequence_number = shard.starting_sequence_number
