"""moto's DynamoDB writes made atomic per call, as DynamoDB's are.

moto 5.2 checks a write's condition expression and then writes, with no lock between the two, so two racing
conditional writes from two threads can both succeed: a lost update, the very thing optimistic locking
prevents on AWS ("Condition expressions": a conditional write succeeds only if the condition holds at the
time of the write, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
Every item write of moto's DynamoDB backend (over HTTP through the engine, in process, or under ``mock_aws``
in the unit tests) runs under one lock here, so a condition is checked and its write made as one step.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

#: the backend's write methods (BatchWriteItem goes through put_item / delete_item item by item)
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
WRITE_LOCK = threading.RLock()
_installed = threading.Lock()
_done = False


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with WRITE_LOCK:
            return method(*args, **kwargs)

    return write


def install() -> None:
    """Once per process (idempotent)."""
    global _done
    with _installed:
        if not _done:
            for name in WRITES:
                setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
            _done = True
