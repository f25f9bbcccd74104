"""Three of moto's per-request costs taken out of the engine's hot path, and one of its memory costs, each
without changing an answer.

1. DynamoDB's item answers are written straight to JSON, meaning exactly what moto's serializer writes.
moto 5.2 serializes every answer by walking the botocore output shape member by member, with attribute
pickers and alias lookups at each level. An item answer is a tree of AttributeValues, so the walk is deep:
profiled under the job pipeline (``bench/compare.py``), serializing ``GetItem`` answers took over half of the
engine's GIL time. For the item operations the result is already the wire document (``dynamo_to_dict``
leaves only dicts, lists, strings, numbers, booleans and raw bytes), so it is encoded directly: bytes as
base64 (the JSON protocol's blob encoding), ``None`` members and members outside the output shape left out,
as the serializer does.
Errors, and every other operation, still go through moto's serializer. ``tests/embedded/test_moto_fast``
compares both encodings over items of every AttributeValue type.

2. moto looks up which actions a response class has (``inspect.getmembers`` over the class) on every
request; classes do not change while the engine runs, so the answer is remembered per class.

3. DynamoDB and DynamoDB Streams calls go straight to moto's handler. moto's server sends every request
through its dispatcher and a Flask app per service (URL rules, request context, CORS, a Flask response), then
to the handler's ``dispatch``; both services have one URL (``/``), so the engine, which already knows the
service from the signature, calls ``dispatch`` itself with moto's own request type, as moto's Flask view
(``convert_to_flask_response``) does. Profiled under ``GetItem`` calls, Flask and the dispatcher were about
half of the engine's time; the handler and its answers are moto's.

4. moto's SSM is loaded without moto's EC2. ``moto/ssm/models.py`` imports ``moto.ec2.ec2_backends`` at its
top, only to resolve SendCommand's instance targets (which the pattern never sends), and importing
``moto.ec2`` loads its instance types, AMIs and offerings: about half of the engine's resident memory
(measured: ~120 MB of ~237 MB after start). So SSM's models are imported once with a placeholder
``moto.ec2`` whose ``ec2_backends`` imports the real package on first use; the placeholder leaves
``sys.modules`` right after, so a later ``import moto.ec2`` gets the real package. This must run before
anything imports ``moto.ssm`` (``EngineApp`` calls ``install`` first), and does nothing if moto's EC2 or
SSM is loaded already.
"""

from __future__ import annotations

import base64
import functools
import json
import sys
import threading
import types
from collections.abc import Callable, Collection
from typing import Any

import moto.core.responses
from botocore.exceptions import ClientError
from moto.core.request import Request as MotoRequest
from moto.core.responses import ActionContext
from moto.core.utils import method_names_from_class
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

#: "DynamoDB API Reference": the item operations, whose outputs are items, keys, counts and ConsumedCapacity.
ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem"})
CONTENT_TYPE = "application/x-amz-json-1.0"

_installed = threading.Lock()
_original: Callable[[DynamoResult, ActionContext], Any] | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def encode(result: dict[str, Any], members: Collection[str]) -> str:
    """The JSON body of an item operation's result: its output shape's members (moto adds legacy ones, such
    as ``ConsumedCapacityUnits``, which the serializer leaves out)."""
    return json.dumps(_plain({k: v for k, v in result.items() if k in members}), separators=(",", ":"))


def _execute_result(self: DynamoResult, context: ActionContext) -> Any:
    assert _original is not None
    result, shape = self.result, context.operation_model.output_shape
    if context.operation_model.name in ITEM_OPERATIONS and isinstance(result, dict) and shape is not None:
        return 200, {"Content-Type": CONTENT_TYPE}, encode(result, shape.members)
    return _original(self, context)


class _Ec2Backends:
    """``moto.ec2.ec2_backends`` for ``moto.ssm.models``, imported when SSM first uses it."""

    @staticmethod
    def _real() -> Any:
        from moto.ec2 import ec2_backends

        return ec2_backends

    def __getitem__(self, account_id: str) -> Any:
        return self._real()[account_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def _import_ssm_without_ec2() -> None:
    if "moto.ec2" in sys.modules or "moto.ssm.models" in sys.modules:
        return
    placeholder = types.ModuleType("moto.ec2", "stands in while moto.ssm.models is imported (moto_fast)")
    placeholder.__dict__["ec2_backends"] = _Ec2Backends()
    sys.modules["moto.ec2"] = placeholder
    try:
        import moto.ssm.models  # noqa: F401
    finally:
        if sys.modules.get("moto.ec2") is placeholder:
            del sys.modules["moto.ec2"]


def install() -> None:
    """The changes 1, 2 and 4 (3 is ``dispatch_direct``), once per process (idempotent)."""
    global _original
    with _installed:
        if _original is None:
            _import_ssm_without_ec2()
            _original = DynamoResult.execute_result
            DynamoResult.execute_result = _execute_result  # type: ignore[method-assign,assignment]
            moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(method_names_from_class)


#: JSON-protocol APIs whose every call has one URL and one handler, dispatched without moto's Flask apps, by
#: the X-Amz-Target prefix (DynamoDB Streams signs as ``dynamodb`` too)
DIRECT: dict[str, Callable[..., Any]] = {"DynamoDB_20120810.": DynamoHandler.dispatch,
                                         "DynamoDBStreams_20120810.": DynamoDBStreamsHandler.dispatch}


def direct_handler(environ: dict[str, Any]) -> Callable[..., Any] | None:
    """moto's handler of a DynamoDB or DynamoDB Streams call, else None."""
    prefix = str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")[0]
    return DIRECT.get(prefix + ".")


def dispatch_direct(handler: Callable[..., Any], environ: dict[str, Any], start_response: Any) -> Any:
    """A DynamoDB (Streams) call answered by moto's handler, as moto's Flask view would answer it."""
    request = MotoRequest(environ)
    try:
        result = handler(request, request.raw_url, dict(request.headers))
    except HTTPException as exc:  # moto's REST errors are werkzeug exceptions that carry their answer
        return exc(environ, start_response)
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    return Response(response=content, status=status, headers=headers)(environ, start_response)
