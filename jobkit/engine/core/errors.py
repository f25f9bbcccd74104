"""One AWS error, written in the protocol of the service that answers it, as the SDKs parse it.

- JSON (DynamoDB, EventBridge, CloudWatch Logs, SSM, KMS, SQS): ``{"__type": code, "message": ...}`` and
  ``x-amzn-ErrorType``; REST-JSON (Lambda, API Gateway's control plane): the code in ``x-amzn-ErrorType``,
  the message in the body's ``message``/``Message``; query (SNS, IAM, STS, CloudFormation): an
  ``ErrorResponse`` document. "Error responses" of each protocol: the Smithy AWS protocol specifications
  (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html#operation-error-serialization,
  https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization,
  https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#operation-error-serialization).
- An operation of a served service that the engine does not implement answers ``not_implemented``: 501, as
  LocalStack answers one, and naming the operation, so a test learns at once what it relied on.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from werkzeug.wrappers import Response

from jobkit.engine.moto.fast import LOADER

#: the model a signing name's operations are in, where they differ
_MODEL_OF = {"dynamodbstreams": "dynamodbstreams", "execute-api": "apigateway"}


@functools.lru_cache(maxsize=64)
def service_model(service: str) -> dict[str, Any]:
    """botocore's model of a service (shared with moto's, decoded once)."""
    document: dict[str, Any] = LOADER.load_service_model(_MODEL_OF.get(service, service), "service-2")
    return document


def protocol_of(service: str) -> str:
    try:
        return str(service_model(service)["metadata"]["protocol"])
    except Exception:  # an unknown service: its callers sent JSON or a form; JSON says the most
        return "json"


@dataclass
class AwsError(Exception):
    """An error answer: its code (the exception's shape name), message and HTTP status."""

    code: str
    message: str
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def fault(self) -> str:
        return "Sender" if self.status < 500 else "Receiver"

    def response(self, service: str) -> Response:
        protocol = protocol_of(service)
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": self.code}
        if protocol == "json":
            version = service_model(service)["metadata"].get("jsonVersion", "1.0")
            return Response(json.dumps({"__type": self.code, "message": self.message}), status=self.status,
                            headers=headers, content_type=f"application/x-amz-json-{version}")
        if protocol == "rest-json":
            return Response(json.dumps({"message": self.message}), status=self.status, headers=headers,
                            content_type="application/json")
        namespace = service_model(service)["metadata"].get("xmlNamespace", "")
        namespace = namespace.get("uri", "") if isinstance(namespace, dict) else str(namespace)
        body = (f'<ErrorResponse xmlns="{escape(namespace)}"><Error><Type>{self.fault}</Type>'
                f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(body, status=self.status, headers=headers, content_type="text/xml")


def not_implemented(service: str, operation: str) -> AwsError:
    return AwsError("InternalFailure", f"the jobkit engine does not implement {service} {operation or 'this call'}"
                    " (an operation it does not serve is refused, never answered as if done)", 501)


def internal_failure(service: str, operation: str, exc: BaseException) -> AwsError:
    """An operation that failed inside the engine: 500 ``InternalFailure``, the code AWS documents for "an unknown
    error, exception or failure" (Common Errors, e.g.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html), naming what failed."""
    return AwsError("InternalFailure", f"the jobkit engine failed serving {service} {operation or 'this call'}: "
                    f"{type(exc).__name__}: {str(exc)[:300]}", 500)


@functools.lru_cache(maxsize=64)
def _rest_routes(service: str) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """(HTTP method, path segments with ``{label}`` placeholders, operation) of a REST service's operations."""
    routes = []
    for name, operation in service_model(service).get("operations", {}).items():
        http = operation.get("http", {})
        path = str(http.get("requestUri", "/")).split("?", 1)[0]
        routes.append((str(http.get("method", "POST")), tuple(p for p in path.split("/") if p), name))
    return tuple(routes)


def rest_operation(service: str, method: str, path: str) -> str:
    """The operation a REST-JSON request names by its method and path, '' if none does."""
    segments = [p for p in path.split("/") if p]
    for route_method, parts, name in _rest_routes(service):
        if route_method != method:
            continue
        greedy = bool(parts) and parts[-1].endswith("+}")
        if len(parts) != len(segments) and not (greedy and len(segments) >= len(parts)):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(parts, segments, strict=False)):
            return name
    return ""
