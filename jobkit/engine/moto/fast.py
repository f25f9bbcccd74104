"""moto's per-request costs out of the engine's hot path, and some of its memory and start-up costs, each without
changing an answer (``tests/engine/moto/test_fast`` runs the same calls against patched and stock moto).

1. DynamoDB's item answers are written straight to JSON by ``encode``, a plain walk of the botocore output shape
   (bytes as base64, ``None`` and members outside the shape left out, as moto's serializer does): moto's own
   serializer walks an item's AttributeValue tree member by member with attribute pickers and alias lookups.
   Errors and every other operation still go through moto's serializer.
2. Which actions a response class has is remembered per class (moto runs ``inspect.getmembers`` per request).
3. DynamoDB and DynamoDB Streams calls go straight to moto's handler (``dispatch_direct``), as moto's Flask view
   would call it, without its dispatcher and per-service Flask app: both services have one URL, and the engine
   knows the service from the request already.
4. moto's SSM is loaded without moto's EC2: ``moto/ssm/models.py`` imports EC2 only for SendCommand's instance
   targets, and EC2's catalogues are a large share of the engine's memory. A placeholder ``moto.ec2`` imports the
   real package on first use and leaves ``sys.modules`` right after. Must run before anything imports ``moto.ssm``.
5. UpdateItem's expression work is done once per expression string: parse trees and condition tokens are
   remembered and each caller gets its own copy; AST nodes copy themselves field by field as ``copy.deepcopy``
   would; the traversal passes are moto's own algorithms with their per-step constants taken once. What fails to
   parse is never remembered.
6. DynamoDB Streams' GetRecords answers are written by the same ``encode`` (timestamps as moto writes them).
7. moto's API Gateway is loaded without its OpenAPI validator until an API is imported from a document
   (ImportRestApi, PutRestApi), which a stack deployed from its template never calls; the first ``validate``
   imports the real package and puts its names into moto's module.
8. Each botocore service model is decoded once per engine: moto's answers, moto's region lookups and the
   deployer's clients share one loader (``LOADER``, moto's kind), whose cache keeps each document once.

Installed, with the other patches of moto, from ``jobkit.engine.moto`` (which checks moto's release first).
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import json
import sys
import threading
import types
from collections import deque
from collections.abc import Callable
from typing import Any

import botocore.session
import moto.core.responses
import moto.core.utils
from botocore.exceptions import ClientError
from botocore.model import Shape
from moto.core.base_backend import AccountSpecificBackend
from moto.core.loaders import create_loader
from moto.core.request import Request as MotoRequest
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import TimestampSerializer
from moto.core.utils import method_names_from_class
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]  # an untyped module
    DepthFirstTraverser,
    Expression,
    Node,
    UpdateExpressionFunction,
)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

#: "DynamoDB API Reference": the item operations, whose outputs are items, keys, counts and ConsumedCapacity.
ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem"})
CONTENT_TYPE = "application/x-amz-json-1.0"

_installed = threading.Lock()
_original: Callable[[DynamoResult, ActionContext], Any] | None = None


#: change 8: the one loader (and so the one cache of decoded service models) of the engine's process
LOADER = create_loader()


def botocore_session() -> botocore.session.Session:
    """A botocore session of its own (credentials, region, events) that decodes models through ``LOADER``."""
    session = botocore.session.get_session()
    session.register_component("data_loader", LOADER)
    return session


def _regions_session(cls: type[AccountSpecificBackend]) -> botocore.session.Session:
    """``AccountSpecificBackend.get_session``: one session for moto's region lookups, as moto's, through
    ``LOADER`` (botocore's session has the two methods moto calls on boto3's: ``get_available_partitions`` and
    ``get_available_regions``)."""
    return _regions()


@functools.cache
def _regions() -> botocore.session.Session:
    return botocore_session()


_TIMESTAMPS = TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_UNIX)


def _shaped(value: Any, shape: Shape) -> Any:
    """``value`` (plain data: dicts, lists, scalars, datetimes, bytes) as moto's JSON serializer writes it for
    ``shape``: a structure keeps its shape's members that are not None, a timestamp is written in the
    shape's format (the JSON protocol's default: epoch seconds), a blob is base64."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {name: _shaped(item, members[name]) for name, item in value.items()
                if item is not None and name in members}
    if kind == "list":
        return [_shaped(item, shape.member) for item in value]  # type: ignore[attr-defined]
    if kind == "map":
        return {key: _shaped(item, shape.value) for key, item in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp" and isinstance(value, datetime.datetime):
        return _TIMESTAMPS._convert_timestamp_to_str(
            value, shape.serialization.get("timestampFormat", TimestampSerializer.TIMESTAMP_FORMAT_UNIX))
    if kind == "blob" and isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def encode(result: Any, shape: Shape) -> str:
    """The JSON body of a result (plain data) for its output shape, as moto's serializer writes it (moto adds
    legacy members, such as ``ConsumedCapacityUnits``, which the shape leaves out)."""
    return json.dumps(_shaped(result, shape), separators=(",", ":"))


def _execute_result(self: DynamoResult, context: ActionContext) -> Any:
    assert _original is not None
    result, shape = self.result, context.operation_model.output_shape
    if context.operation_model.name in ITEM_OPERATIONS and isinstance(result, dict) and shape is not None:
        return 200, {"Content-Type": CONTENT_TYPE}, encode(result, shape)
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


class _NeverRaised(Exception):
    """Stands for ``OpenAPIValidationError`` until ``_validate_openapi`` puts the real class in its place."""


def _validate_openapi(*args: Any, **kwargs: Any) -> Any:
    """``openapi_spec_validator.validate`` for ``moto.apigateway.models``, imported on its first use."""
    import moto.apigateway.models as models
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    models.__dict__.update(validate=validate, OpenAPIValidationError=OpenAPIValidationError)
    return validate(*args, **kwargs)


def _import_apigateway_without_openapi() -> None:
    if "openapi_spec_validator" in sys.modules or "moto.apigateway.models" in sys.modules:
        return
    names = ("openapi_spec_validator", "openapi_spec_validator.validation",
             "openapi_spec_validator.validation.exceptions")
    placeholders = {name: types.ModuleType(name, "stands in while moto.apigateway.models is imported (moto_fast)")
                    for name in names}
    placeholders["openapi_spec_validator"].__dict__["validate"] = _validate_openapi
    placeholders["openapi_spec_validator.validation.exceptions"].__dict__["OpenAPIValidationError"] = _NeverRaised
    sys.modules.update(placeholders)
    try:
        import moto.apigateway.models  # noqa: F401
    finally:
        for name, placeholder in placeholders.items():
            if sys.modules.get(name) is placeholder:
                del sys.modules[name]


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


#: values ``copy.deepcopy`` returns as they are (its ``_deepcopy_atomic`` types that occur in moto's trees)
_ATOMIC = frozenset({str, int, float, bool, bytes, type(None)})
_NIL = object()
#: per class: is it an AST node; does ``find_clauses`` descend into it (class tests, remembered)
_is_node: dict[type, bool] = {}
_descends: dict[type, bool] = {}


def _node_type(kind: type) -> bool:
    known = _is_node.get(kind)
    if known is None:
        known = _is_node[kind] = issubclass(kind, Node)
    return known


def _node_deepcopy(self: Node, memo: dict[int, Any]) -> Node:
    """``copy.deepcopy`` of an AST node, field by field: what the default ``__reduce_ex__`` copy makes (a new
    instance of the class, its ``__dict__`` deep-copied with the same memo, so parents and shared children
    map to their copies), without the pickle protocol's per-object overhead. Child nodes are copied by this
    same function directly (moto's nodes do not define their own ``__deepcopy__``)."""
    cls = self.__class__
    new = cls.__new__(cls)
    memo[id(self)] = new
    state: dict[str, Any] = {}
    for key, value in self.__dict__.items():
        kind = type(value)
        if kind in _ATOMIC:
            state[key] = value
            continue
        known = memo.get(id(value), _NIL)
        if known is not _NIL:
            state[key] = known
        elif kind is list:
            copied: list[Any] = []
            memo[id(value)] = copied
            for child in value:
                child_kind = type(child)
                if child_kind in _ATOMIC:
                    copied.append(child)
                elif _node_type(child_kind) and child_kind.__deepcopy__ is _node_deepcopy:
                    twin = memo.get(id(child), _NIL)
                    copied.append(_node_deepcopy(child, memo) if twin is _NIL else twin)
                else:
                    copied.append(copy.deepcopy(child, memo))
            state[key] = copied
        else:
            state[key] = copy.deepcopy(value, memo)
    new.__dict__.update(state)
    return new


#: moto's ``UpdateExpressionParser.make`` (a classmethod)
_MAKE: Any = UpdateExpressionParser.__dict__["make"]


@functools.lru_cache(maxsize=1024)
def _parsed(expression: str) -> Node:
    tree: Node = _MAKE.__func__(UpdateExpressionParser, expression)
    return tree


def _make(cls: type[UpdateExpressionParser], expression_str: str) -> Node:
    """``UpdateExpressionParser.make``: the tree of an expression parsed once, a copy for each caller (errors
    are not remembered: an invalid expression is parsed, and raises, every time)."""
    if cls is not UpdateExpressionParser or type(expression_str) is not str:
        tree: Node = _MAKE.__func__(cls, expression_str)
        return tree
    return copy.deepcopy(_parsed(expression_str))


def _traverse(self: DepthFirstTraverser, node: Any) -> Any:
    """``DepthFirstTraverser.traverse``: moto's ``traverse_node_recursively``, with what it recomputes at every
    node (the processed types, from a fresh ``_processing_map``; the class tests) taken once per pass, and the
    ``pre_processing_of_child`` hook called only where a pass defines one."""
    if type(self).traverse_node_recursively is not DepthFirstTraverser.traverse_node_recursively:
        return self.traverse_node_recursively(node)
    processed_types = self.nodes_to_be_processed()
    processed: dict[type, bool] = {}
    hook = self.pre_processing_of_child
    pre = None if type(self).pre_processing_of_child is DepthFirstTraverser.pre_processing_of_child else hook
    process = self.process
    is_node = _is_node

    def visit(node: Any, child_id: int) -> Any:  # node is a Node: other children are left as they are
        kind = type(node)
        parent_node = node.parent
        children = node.children
        if children is not None:
            for i, child_node in enumerate(children):
                if pre is not None:
                    pre(node, i)
                child_kind = type(child_node)
                if is_node.get(child_kind) or _node_type(child_kind):
                    visit(child_node, i)
        chosen = processed.get(kind)
        if chosen is None:
            chosen = processed[kind] = issubclass(kind, processed_types)
        if chosen:
            node = process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return visit(node, -1) if _node_type(type(node)) else node


def _find_clauses(self: Node, clause_types: Any) -> list[Any]:
    """``Node.find_clauses`` with its class tests remembered per class."""
    clauses: list[Any] = []
    for child in self.children or []:
        kind = type(child)
        if kind in clause_types:
            clauses.append(child)
        else:
            descends = _descends.get(kind)
            if descends is None:
                descends = _descends[kind] = issubclass(kind, (Expression, UpdateExpressionFunction))
            if descends:
                clauses.extend(child.find_clauses(clause_types))
    return clauses


#: moto's ``ConditionExpressionParser._lex_condition_expression``
_LEX: Any = ConditionExpressionParser.__dict__["_lex_condition_expression"]


@functools.lru_cache(maxsize=1024)
def _lexed(expression: str) -> tuple[tuple[str, str, str, str], ...]:
    nodes = _LEX(ConditionExpressionParser(expression, None, None))
    return tuple((node.nonterminal, node.kind, node.text, node.value) for node in nodes)


def _lex(self: ConditionExpressionParser) -> deque[Any]:
    """``ConditionExpressionParser._lex_condition_expression``: the tokens of an expression (a function of its
    text alone) found once; each call gets new token nodes, as moto's lexer makes them (errors are not
    remembered: an expression that does not lex raises every time)."""
    expression = self.condition_expression
    if type(expression) is not str or type(self)._lex_one_node is not ConditionExpressionParser._lex_one_node:
        nodes: deque[Any] = _LEX(self)
        return nodes
    token = self.Node
    return deque([token(nonterminal, kind, text, value, []) for nonterminal, kind, text, value in _lexed(expression)])


_ABSENT = object()
#: change 5: (owner, attribute, moto's own or _ABSENT, the replacement)
UPDATE_PATCHES: list[tuple[type, str, Any, Any]] = [
    (Node, "__deepcopy__", Node.__dict__.get("__deepcopy__", _ABSENT), _node_deepcopy),
    (Node, "find_clauses", Node.__dict__["find_clauses"], _find_clauses),
    (DepthFirstTraverser, "traverse", DepthFirstTraverser.__dict__["traverse"], _traverse),
    (UpdateExpressionParser, "make", _MAKE, classmethod(_make)),
    (ConditionExpressionParser, "_lex_condition_expression", _LEX, _lex),
]


class _RecordsResult(ActionResult):
    """GetRecords' answer written by ``_shaped``."""

    def execute_result(self, context: ActionContext) -> Any:
        shape = context.operation_model.output_shape
        if shape is None:
            return super().execute_result(context)
        return 200, {"Content-Type": CONTENT_TYPE}, encode(self.result, shape)


_GET_RECORDS: Any = DynamoDBStreamsHandler.__dict__["get_records"]


def _get_records(self: DynamoDBStreamsHandler) -> ActionResult:
    """moto's GetRecords, its answer encoded by ``_RecordsResult``."""
    return _RecordsResult(_GET_RECORDS(self).result)


def install_update_item() -> None:
    """Change 5 (idempotent)."""
    for owner, name, _, replacement in UPDATE_PATCHES:
        setattr(owner, name, replacement)


def install() -> None:
    """The changes 1, 2 and 4 to 8 (3 is ``dispatch_direct``), once per process (idempotent)."""
    global _original
    with _installed:
        if _original is None:
            _import_ssm_without_ec2()
            _import_apigateway_without_openapi()
            _original = DynamoResult.execute_result
            DynamoResult.execute_result = _execute_result  # type: ignore[method-assign,assignment]
            moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(method_names_from_class)
            install_update_item()
            DynamoDBStreamsHandler.get_records = _get_records  # type: ignore[method-assign]
            moto.core.utils.create_loader = lambda: LOADER
            AccountSpecificBackend.get_session = classmethod(_regions_session)  # type: ignore[method-assign,assignment]


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
