"""The sandbox's DynamoDB data in moto's models, cleared by a reset: every table's items and stream records.
Tables, their settings and streams stay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobkit.engine.core.service import moto_backends


def reset(account: str, outputs: Mapping[str, str]) -> dict[str, int]:
    """Empties every table of ``account`` and its stream (``empty``). The caller holds ``WRITE_LOCK``."""
    tables = items = records = 0
    iterators = [it for backend in moto_backends("dynamodbstreams", account)
                 for it in list(backend.shard_iterators.values())]
    for backend in moto_backends("dynamodb", account):
        for table in list(backend.tables.values()):
            emptied = empty(table, iterators)
            tables, items, records = tables + 1, items + emptied[0], records + emptied[1]
    return {"tables": tables, "items": items, "streamRecords": records}


def empty(table: Any, iterators: list[Any]) -> tuple[int, int]:
    """Empties one table and its stream shard; returns (items, stream records) removed. The shard's sequence
    numbers go on from where they were, so a new record never takes an old one's number (and the hop log's
    lookups stay right); a shard iterator of ``iterators`` (moto's, kept by a reader) at an older record moves to
    the new start, so it yields new records only."""
    items = len(table)
    table.items.clear()
    shard = table.stream_shard
    if shard is None:
        return items, 0
    records = len(shard.items)
    shard.starting_sequence_number += records
    shard.items = []
    for iterator in iterators:
        if iterator.stream_shard is shard and iterator.sequence_number < shard.starting_sequence_number:
            iterator.sequence_number = shard.starting_sequence_number
    return items, records
