"""moto's DynamoDB streams write a record only for a write that changed the item, as DynamoDB Streams does.

"Change data capture for DynamoDB Streams" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html):
a stream record describes a data modification, and "If you perform a PutItem or UpdateItem operation that does
not change any data in an item, DynamoDB Streams does not write a stream record for that operation." moto 5.2's
``StreamShard.add`` appends a MODIFY for every PutItem and UpdateItem of an existing item, changed or not, so a
consumer would be invoked for writes that changed nothing. Here ``add`` skips a write whose old and new item are
equal (moto's ``Item.__eq__``: the same key and the same attributes, numbers compared by value).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.models.table import StreamShard

_installed = threading.Lock()
_done = False


def changes_data(old: Any, new: Any) -> bool:
    """Whether a write from ``old`` to ``new`` (moto Items, None for none) modified the item."""
    return old is None or new is None or old != new


def install() -> None:
    """Once per process (idempotent): wraps the ``add`` in place, whatever wraps it already."""
    global _done
    with _installed:
        if _done:
            return
        inner = StreamShard.add

        def add(self: StreamShard, old: Any, new: Any) -> None:
            if changes_data(old, new):
                inner(self, old, new)

        StreamShard.add = add  # type: ignore[method-assign]
        _done = True
