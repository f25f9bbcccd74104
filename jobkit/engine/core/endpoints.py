"""The answers of jobkit's own endpoints (``/_jobkit/*``): JSON documents, and bad input refused with a status
and ``{"message": ...}`` that says what is taken instead. One shape for every endpoint, so a client (the CLI,
the page, a test) reads any refusal the same way."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response


def answer(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def refuse(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"message": message}), status=status, headers=headers or {},
                    content_type="application/json")


def methods_only(request: Request, allowed: tuple[str, ...], what: str) -> Response | None:
    """A 405 naming what is served (``what``) for a method not in ``allowed``; None if it is allowed."""
    if request.method in allowed:
        return None
    return refuse(405, f"{request.method} is not served here: {what}", {"Allow": ", ".join(allowed)})


def names(found: Iterable[Any]) -> str:
    """Names a caller sent, for a message: sorted, each cut short."""
    return ", ".join(sorted(str(n)[:40] for n in found))


def query_refusal(request: Request, taken: tuple[str, ...]) -> Response | None:
    """A 400 for a query parameter not in ``taken`` or given twice; None if the query is fine."""
    unknown = set(request.args) - set(taken)
    if unknown:
        listed = " and ".join(taken) + (" are taken" if len(taken) > 1 else " is taken") if taken else \
            "no query parameters are taken here"
        return refuse(400, f"unknown query parameters {names(unknown)}: {listed}")
    if any(len(request.args.getlist(name)) > 1 for name in request.args):
        return refuse(400, "each query parameter is given once")
    return None


def json_object(body: bytes, keys: tuple[str, ...], example: str, shape: str, empty: str = "{}") -> dict[str, Any]:
    """The JSON object of a request body, holding only ``keys`` (an empty body reads as ``empty``); ValueError
    otherwise, showing ``example`` (a body that is taken) or saying ``shape`` (which keys). NaN and Infinity are
    refused: they are not JSON numbers (RFC 8259)."""
    try:
        document = json.loads(body or empty.encode(), parse_constant=no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the body must be a JSON object like {example}: {exc}") from None
    if not isinstance(document, dict) or set(document) - set(keys):
        raise ValueError(f"the body must be a JSON object {shape}")
    return document


def no_constant(name: str) -> Any:
    """``json.loads``' ``parse_constant``: NaN, Infinity and -Infinity refused."""
    raise ValueError(f"{name} is not a number")


def whole_number(request: Request, name: str, default: int, most: int) -> int | Response:
    """Query parameter ``name`` as a whole number from 1 to ``most`` (``default`` if absent), else a 400."""
    text = request.args.get(name, str(default))
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= most):
        return refuse(400, f"{name} must be a whole number from 1 to {most}, got {text[:20]!r}")
    return int(text)
