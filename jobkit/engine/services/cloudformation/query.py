"""CloudFormation's wire format, read and written from botocore's model of the API, so every answer has the
shape the SDKs parse: the query protocol ("AWS query protocol", https://smithy.io/2.0/aws/protocols/aws-query-protocol.html).

- A request is a form: ``Action``, then each input member by name, a list's items as ``Name.member.N``, a map's
  as ``Name.entry.N.key``/``.value``, a nested member as ``Outer.Inner``. It is read into the operation's input
  shape and checked as the service checks it: a required member missing, a value outside its enum, its length
  or its pattern is a ``ValidationError`` in the service's words ("1 validation error detected: ...").
- An answer is ``<{Operation}Response>`` with the output shape in ``<{Operation}Result>`` (lists as
  ``<member>`` items, timestamps ISO 8601, booleans ``true``/``false``) and the request id in
  ``<ResponseMetadata>``.
- An error is the model's error shape: its code (``ChangeSetNotFoundException`` is sent as
  ``ChangeSetNotFound``) and HTTP status, written by ``core.errors.AwsError``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from werkzeug.wrappers import Response

from jobkit.engine.core.errors import AwsError, service_model

SERVICE = "cloudformation"


@functools.cache
def _model() -> ServiceModel:
    return ServiceModel(service_model(SERVICE), SERVICE)


def operation(name: str) -> OperationModel:
    return _model().operation_model(name)


def validation_error(message: str) -> AwsError:
    """The error of any input CloudFormation refuses (its API has no more specific one for most)."""
    return AwsError("ValidationError", message, 400)


def modeled_error(shape_name: str, message: str) -> AwsError:
    """An error of the model (``ChangeSetNotFoundException`` ...), with the code and status it is sent with."""
    error = _model().shape_for(shape_name).metadata.get("error", {})
    return AwsError(str(error.get("code", shape_name)), message, int(error.get("httpStatusCode", 400)))


# --- requests --------------------------------------------------------------------------------------------
def parse(operation_name: str, form: dict[str, str]) -> dict[str, Any]:
    """The request's input as the operation's input shape describes it; ValidationError if it breaks a
    constraint of the model."""
    shape = operation(operation_name).input_shape
    if shape is None:
        return {}
    value = _read(shape, "", form)
    problems: list[str] = []
    _check(shape, value, "", problems)
    if problems:
        count = len(problems)
        raise validation_error(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    return value if isinstance(value, dict) else {}


def _read(shape: Shape, prefix: str, form: dict[str, str]) -> Any:
    if isinstance(shape, StructureShape):
        found: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = _read(member, f"{prefix}.{key}" if prefix else key, form)
            if value is not None:
                found[name] = value
        return found if found or not prefix else None
    if isinstance(shape, ListShape):
        if form.get(prefix) == "":  # an empty list is sent as the bare name
            return []
        step = "" if shape.serialization.get("flattened") else ".member"
        items: list[Any] = []
        while any(key == f"{prefix}{step}.{len(items) + 1}" or key.startswith(f"{prefix}{step}.{len(items) + 1}.")
                  for key in form):
            items.append(_read(shape.member, f"{prefix}{step}.{len(items) + 1}", form))
        return items or None
    if isinstance(shape, MapShape):
        entries: dict[str, Any] = {}
        n = 1
        while f"{prefix}.entry.{n}.key" in form:
            entries[form[f"{prefix}.entry.{n}.key"]] = _read(shape.value, f"{prefix}.entry.{n}.value", form)
            n += 1
        return entries or None
    if prefix not in form:
        return None
    text = form[prefix]
    if shape.type_name == "boolean":
        return text.lower() == "true"
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text  # refused by the check, in the service's words
    return text


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check(shape: Shape, value: Any, where: str, problems: list[str]) -> None:
    if isinstance(shape, StructureShape):
        value = value if isinstance(value, dict) else {}
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(f"Value null at '{_at(where, name)}' failed to satisfy constraint: "
                                "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _at(where, name), problems)
        return
    if isinstance(shape, ListShape):
        limit = shape.metadata.get("max")
        if limit is not None and len(value) > limit:
            problems.append(f"Value at '{where}' failed to satisfy constraint: Member must have length less than "
                            f"or equal to {limit}")
        for n, item in enumerate(value, 1):
            _check(shape.member, item, f"{where}.{n}", problems)
        return
    if isinstance(shape, MapShape):
        for item in value.values():
            _check(shape.value, item, where, problems)
        return
    if shape.type_name in ("integer", "long") and not isinstance(value, int):
        problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be a number")
        return
    if shape.type_name != "string" or not isinstance(value, str):
        return
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy enum value "
                        f"set: [{', '.join(enum)}]")
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have length greater "
                        f"than or equal to {low}")
    if high is not None and len(value) > high:
        problems.append(f"Value at '{where}' failed to satisfy constraint: Member must have length less than or "
                        f"equal to {high}")
    pattern = _pattern(shape.metadata.get("pattern"))
    if pattern is not None and pattern.fullmatch(value) is None:
        problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy regular "
                        f"expression pattern: {shape.metadata['pattern']}")


def _at(where: str, name: str) -> str:
    return f"{where}.{_camel(name)}" if where else _camel(name)


@functools.cache
def _pattern(text: str | None) -> re.Pattern[str] | None:
    """The model's pattern (Java's syntax; the few Python cannot read are not checked)."""
    if not text:
        return None
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None


# --- answers ---------------------------------------------------------------------------------------------
def answer(operation_name: str, result: dict[str, Any] | None = None) -> Response:
    """``result`` (the output shape's members by name) written as the operation's XML answer."""
    op = operation(operation_name)
    namespace = _model().metadata.get("xmlNamespace", "")
    inner = ""
    if op.output_shape is not None:
        wrapper = op.output_shape.serialization.get("resultWrapper") or f"{operation_name}Result"
        inner = _write_members(op.output_shape, result or {})
        inner = f"<{wrapper}>{inner}</{wrapper}>"
    request_id = str(uuid.uuid4())
    body = (f'<{operation_name}Response xmlns="{namespace}">{inner}<ResponseMetadata><RequestId>{request_id}'
            f"</RequestId></ResponseMetadata></{operation_name}Response>")
    return Response(body, content_type="text/xml", headers={"x-amzn-RequestId": request_id})


def _write_members(shape: StructureShape, value: dict[str, Any]) -> str:
    unknown = set(value) - set(shape.members)
    if unknown:
        raise ValueError(f"{shape.name} has no member(s) {sorted(unknown)}")
    return "".join(_write(member, value[name], member.serialization.get("name", name))
                   for name, member in shape.members.items() if value.get(name) is not None)


def _write(shape: Shape, value: Any, tag: str) -> str:
    if isinstance(shape, StructureShape):
        return f"<{tag}>{_write_members(shape, value)}</{tag}>"
    if isinstance(shape, ListShape):
        item_tag = shape.member.serialization.get("name", "member")
        items = "".join(_write(shape.member, item, item_tag) for item in value)
        return items if shape.serialization.get("flattened") else f"<{tag}>{items}</{tag}>"
    if isinstance(shape, MapShape):
        entries = "".join(f"<entry>{_write(shape.key, k, 'key')}{_write(shape.value, v, 'value')}</entry>"
                          for k, v in value.items())
        return f"<{tag}>{entries}</{tag}>"
    if shape.type_name == "boolean":
        text = "true" if value else "false"
    elif shape.type_name == "timestamp":
        text = timestamp(value) if isinstance(value, dt.datetime) else str(value)
    else:
        text = escape(str(value))
    return f"<{tag}>{text}</{tag}>"


def timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as CloudFormation writes its times."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
