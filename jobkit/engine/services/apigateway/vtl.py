"""API Gateway mapping templates (VTL) rendered with airspeed, the engine LocalStack uses.

Variables follow "API Gateway mapping template and access logging variable reference"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html):
``$input`` (body, json, path, params), ``$context`` (with ``responseOverride``), ``$util``.
The stack's tests and the embedded gateway both render through this module, so a template that breaks
here breaks in the sandbox too.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed

_PATH_TOKEN = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class TemplateError(ValueError):
    """A mapping template that cannot be rendered (API Gateway answers 500 Internal server error)."""


def json_path(document: Any, expression: str) -> Any:
    """The subset of JSONPath that API Gateway templates use: ``$``, ``.key``, ``['key']``, ``[n]``."""
    expression = expression.strip()
    if not expression.startswith("$"):
        raise TemplateError(f"invalid JSONPath {expression!r}")
    value = document
    position = 1
    while position < len(expression):
        match = _PATH_TOKEN.match(expression, position)
        if match is None:
            raise TemplateError(f"unsupported JSONPath {expression!r}")
        position = match.end()
        key = match.group(1) or match.group(3) or match.group(4)
        if key is not None:
            value = value.get(key) if isinstance(value, dict) else None
        else:
            index = int(match.group(2))
            value = value[index] if isinstance(value, list) and index < len(value) else None
        if value is None:
            return None
    return value


def escape_javascript(value: Any) -> str:
    """``$util.escapeJavaScript``: JavaScript string rules, single quotes included (as AWS documents)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in "'\"\\/":
            out.append("\\" + ch)
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code > 0x7E:
            if code > 0xFFFF:
                encoded = ch.encode("utf-16-be")
                out.append(f"\\u{int.from_bytes(encoded[:2]):04X}\\u{int.from_bytes(encoded[2:]):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return "".join(out)


class Util:
    """``$util``."""

    def escapeJavaScript(self, value: Any) -> str:
        return escape_javascript(value)

    def parseJson(self, text: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise TemplateError(f"$util.parseJson: {exc}") from exc

    def toJson(self, value: Any) -> str:
        return json.dumps(value)

    def urlEncode(self, text: str) -> str:
        return quote_plus(text)

    def urlDecode(self, text: str) -> str:
        return unquote_plus(text)

    def base64Encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    def base64Decode(self, text: str) -> str:
        return base64.b64decode(text).decode()


@dataclass
class Input:
    """``$input``: the request (or integration response) body and the request parameters."""

    body: str = ""
    parameters: dict[str, dict[str, str]] = field(default_factory=dict)

    def _document(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            return self.body

    def path(self, expression: str) -> Any:
        return json_path(self._document(), expression)

    def json(self, expression: str) -> str:
        return json.dumps(json_path(self._document(), expression or "$"))

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self.parameters
        for location in ("path", "querystring", "header"):
            value = self.parameters.get(location, {}).get(name)
            if value is not None:
                return value
        return ""


@dataclass
class Rendered:
    """What a template produced, and the ``$context.responseOverride`` it set."""

    body: str
    status_override: int | None = None
    header_overrides: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> airspeed.Template:
    """A template parsed once: airspeed parses on first merge and keeps the tree, which merges never change
    (profiled: parsing was most of a request's time in the gateway)."""
    compiled = airspeed.Template(template)
    compiled.ensure_compiled()
    return compiled


def render(template: str, *, body: str = "", parameters: dict[str, dict[str, str]] | None = None,
           context: dict[str, Any] | None = None, stage_variables: dict[str, str] | None = None) -> Rendered:
    """Renders one mapping template the way API Gateway does (including ``responseOverride``)."""
    ctx: dict[str, Any] = dict(context or {})
    ctx.setdefault("responseOverride", {"header": {}})
    ctx.setdefault("requestOverride", {"header": {}, "path": {}, "querystring": {}})
    namespace = {
        "input": Input(body=body, parameters=parameters or {}),
        "context": ctx,
        "util": Util(),
        "stageVariables": stage_variables or {},
    }
    try:
        output = _compiled(template).merge(namespace)
    except (airspeed.TemplateError, TemplateError) as exc:
        raise TemplateError(str(exc)) from exc
    override = ctx["responseOverride"]
    status = override.get("status")
    return Rendered(
        body=output,
        status_override=int(status) if status not in (None, "") else None,
        header_overrides={str(k): str(v) for k, v in (override.get("header") or {}).items()},
    )
