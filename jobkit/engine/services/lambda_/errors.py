"""Lambda's error answers, one shape for every answer the engine's Lambda API gives.

Lambda's REST API names the error in ``x-amzn-ErrorType`` and answers ``{"Type": "User", <message>}``; the member
that carries the text differs in case between error shapes ("Lambda API Reference", Common Errors and each
action's Errors, e.g. https://docs.aws.amazon.com/lambda/latest/api/API_GetEventSourceMapping.html#API_GetEventSourceMapping_Errors;
as the service model botocore ships has them: ResourceNotFoundException ``Message``, InvalidParameterValueException
``message``). Status and member are read from that model, so no answer spells them differently from another.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from werkzeug.wrappers import Response


class LambdaError(Exception):
    """An AWS-shaped refusal of a Lambda API call: ``kind`` is the error shape's name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def response(self) -> Response:
        return lambda_error(self.kind, self.message)


@functools.cache
def _shapes() -> dict[str, tuple[int, str]]:
    """Error shape -> (HTTP status, the member that carries the message), from Lambda's service model."""
    from jobkit.engine.moto import fast as moto_fast

    model = moto_fast.botocore_session().get_service_model("lambda")
    shapes: dict[str, tuple[int, str]] = {}
    for shape in model.error_shapes:  # StructureShapes: each has members
        member = next((m for m in shape.members if m.lower() == "message"), "message")  # type: ignore[attr-defined]
        shapes[shape.name] = (int(shape.metadata.get("error", {}).get("httpStatusCode", 400)), member)
    return shapes


def lambda_error(kind: str, message: str) -> Response:
    """The answer Lambda gives for error ``kind`` (a shape of its model) with ``message``."""
    status, member = _shapes()[kind]
    body: dict[str, Any] = {"Type": "User" if status < 500 else "Service", member: message}
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"x-amzn-ErrorType": kind})


def not_found(message: str) -> Response:
    return lambda_error("ResourceNotFoundException", message)


def invalid(message: str) -> Response:
    return lambda_error("InvalidParameterValueException", message)
