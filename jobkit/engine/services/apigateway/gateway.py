"""The REST API front: routing, ``AWS_IAM``, request validation, content types, the AWS service integration
(DynamoDB, executed with the integration's role), mapping templates and integration responses.

API Gateway behaviours and where they are documented:
- Refusals and their default bodies/status codes: "Gateway response types for API Gateway"
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html);
  every answer carries ``x-amzn-RequestId``, refusals ``x-amzn-ErrorType``.
- Validation: "Request validation for REST APIs in API Gateway"
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html),
  models are JSON Schema draft 4; a bad body is 400 ``{"message": "Invalid request body"}``.
- Passthrough: "Method request data mapping ... passthroughBehavior"
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html):
  NEVER and WHEN_NO_TEMPLATES (with templates) answer 415 ``Unsupported Media Type``.
- Integration responses: the selection pattern is a regular expression matched against the whole status
  code of an AWS integration; the response without a pattern is the default
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-integration-settings-integration-response.html).
- ``$context.responseOverride.status`` and the variables: ``jobkit.engine.services.apigateway.vtl``.
- The resource path: one canonical form (``ResourcePath``) routes the request, names it in the method ARN
  that IAM evaluates and is what the signature covers, so no spelling of a path reaches a resource under
  another resource's name. API Gateway's documentation does not say what it does with a trailing slash, an
  empty segment (``//``), a dot segment (``.``, ``..``, also percent-encoded) or a percent-encoded slash
  (``%2F``); such a path is refused as one no resource matches (403 ``Missing Authentication Token``, the
  MISSING_AUTHENTICATION_TOKEN gateway response) rather than normalised. The API id and the stage are taken
  as sent too: stage names hold only alphanumerics, ``-`` and ``_`` ("Amazon API Gateway important notes",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html), so a stage
  spelled percent-encoded names none.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import jsonschema
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.front_door import API_TOO_LARGE, REQUEST_LIMITS
from jobkit.engine.services.apigateway import sigv4, vtl
from jobkit.engine.services.cloudformation.resource_types import StackRegistry
from jobkit.engine.services.iam import policies as iam

_URI = re.compile(r"^arn:aws:apigateway:([^:]+):([^:]+):action/(.+)$")
DEFAULT_CONTENT_TYPE = "application/json"


@dataclass
class MethodSpec:
    http_method: str
    resource_path: str  # e.g. /jobs/{jobId}
    authorization_type: str
    request_models: dict[str, str]
    validate_body: bool
    validate_parameters: bool
    request_parameters: dict[str, bool]
    integration: dict[str, Any]


@dataclass
class RestApiSpec:
    api_id: str
    stages: set[str]
    methods: list[MethodSpec] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)

    def route(self, http_method: str, path: ResourcePath) -> tuple[MethodSpec, dict[str, str]] | None:
        for method in self.methods:
            if method.http_method not in (http_method, "ANY"):
                continue
            params = _match_path(method.resource_path, path.segments)
            if params is not None:
                return method, params
        return None


@dataclass(frozen=True)
class ResourcePath:
    """A request's resource path (after the stage) in its one canonical form: ``segments``, percent-decoded,
    route the request and name it in the method ARN; ``raw``, as sent, is what the signature covers. Built
    only by ``resource_path``, which makes sure both say the same thing."""

    raw: str
    segments: tuple[str, ...]

    @property
    def decoded(self) -> str:
        return "/" + "/".join(self.segments)

    def method_arn(self, region: str, account: str, api_id: str, stage: str, http_method: str) -> str:
        """The ARN IAM evaluates ``execute-api:Invoke`` on ("Control access to a REST API with IAM
        permissions", https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html)."""
        return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{http_method}/{'/'.join(self.segments)}"


def resource_path(raw: str) -> ResourcePath | None:
    """The canonical form of a resource path as sent (still percent-encoded); None for a path that has
    another spelling (a trailing slash, ``//``, ``.`` or ``..`` even percent-encoded, ``%2F``) or is not a
    URI path (non-ASCII, percent-encoding that is not UTF-8): refused, as no resource matches it."""
    if raw in ("", "/"):
        return ResourcePath("/", ())
    if not raw.startswith("/") or not raw.isascii():
        return None
    segments = []
    for part in raw[1:].split("/"):
        try:
            segment = unquote(part, errors="strict")
        except UnicodeDecodeError:
            return None
        if segment in ("", ".", "..") or "/" in segment:
            return None
        segments.append(segment)
    return ResourcePath(raw, tuple(segments))


def _match_path(resource_path: str, segments: tuple[str, ...]) -> dict[str, str] | None:
    parts = [p for p in resource_path.split("/") if p]
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if index >= len(segments):
                return None
            params[part[1:-2]] = "/".join(segments[index:])
            return params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(parts) == len(segments) else None


def apis_from(registries: Iterable[StackRegistry]) -> dict[str, RestApiSpec]:
    """The REST APIs as the stacks deployed them (the gateway serves exactly what the templates say)."""
    apis: dict[str, RestApiSpec] = {}
    for registry in registries:
        apis.update(_apis_of(registry))
    return apis


def _apis_of(registry: StackRegistry) -> dict[str, RestApiSpec]:
    apis: dict[str, RestApiSpec] = {}
    paths: dict[str, str] = {}
    for api in registry.of_type("AWS::ApiGateway::RestApi"):
        apis[api.physical_id] = RestApiSpec(api.physical_id, set())
        paths[api.attributes["RootResourceId"]] = "/"
    resources = {r.physical_id: r.properties for r in registry.of_type("AWS::ApiGateway::Resource")}

    def path_of(resource_id: str) -> str:
        if resource_id not in paths:
            props = resources[resource_id]
            paths[resource_id] = path_of(props["ParentId"]).rstrip("/") + "/" + props["PathPart"]
        return paths[resource_id]

    validators = {v.physical_id: v.properties for v in registry.of_type("AWS::ApiGateway::RequestValidator")}
    for model in registry.of_type("AWS::ApiGateway::Model"):
        apis[model.properties["RestApiId"]].models[model.physical_id] = model.properties.get("Schema", {})
    for stage in registry.of_type("AWS::ApiGateway::Stage"):
        apis[stage.properties["RestApiId"]].stages.add(stage.physical_id)
    for method in registry.of_type("AWS::ApiGateway::Method"):
        props = method.properties
        validator = validators.get(props.get("RequestValidatorId", ""), {})
        apis[props["RestApiId"]].methods.append(MethodSpec(
            http_method=props["HttpMethod"], resource_path=path_of(props["ResourceId"]),
            authorization_type=props.get("AuthorizationType", "NONE"),
            request_models=props.get("RequestModels", {}),
            validate_body=bool(validator.get("ValidateRequestBody")),
            validate_parameters=bool(validator.get("ValidateRequestParameters")),
            request_parameters=props.get("RequestParameters", {}),
            integration=props.get("Integration", {}),
        ))
    return apis


class ServiceCaller(Protocol):
    """Calls an AWS JSON API of the engine as the given role: (HTTP status, response body)."""

    def __call__(self, service: str, action: str, body: bytes, role_arn: str) -> tuple[int, bytes]: ...


@dataclass
class GatewayResult:
    """What the gateway answered, for the engine's hop log."""

    api_id: str
    method: str
    path: str
    status: int
    request_id: str
    #: when the request came (wall clock): the job's trace shows the request before the item it wrote
    received: float = 0.0


class Gateway:
    """Serves every deployed REST API."""

    def __init__(self, apis: dict[str, RestApiSpec], *, account: str, region: str,
                 credentials: Callable[[str], sigv4.Credential | None], call_service: ServiceCaller,
                 on_result: Callable[[GatewayResult], None] | None = None,
                 policies: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self.apis = apis
        self.account = account
        self.region = region
        self.credentials = credentials
        self.call_service = call_service
        self.on_result = on_result
        self.policies = policies or (lambda role_arn: iam.role_policies(account, role_arn))

    def __call__(self, request: Request, api_id: str, stage: str, raw_path: str) -> Response:
        """Serves one request; ``raw_path``: its resource path as sent (after the stage, still percent-encoded)."""
        request_id = str(uuid.uuid4())
        received = time.time()
        path = resource_path(raw_path)
        response = self._handle(request, api_id, stage, path, request_id)
        response.headers["x-amzn-RequestId"] = request_id
        # REST APIs also answer with the extended request id ($context.extendedRequestId)
        response.headers["x-amz-apigw-id"] = base64.b64encode(secrets.token_bytes(12)).decode()[:16]
        if self.on_result is not None:
            self.on_result(GatewayResult(api_id, request.method, path.decoded if path else raw_path,
                                         response.status_code, request_id, received))
        return response

    # --- the request pipeline ---------------------------------------------------------------------------
    def _handle(self, request: Request, api_id: str, stage: str, path: ResourcePath | None,
                request_id: str) -> Response:
        api = self.apis.get(api_id)
        if api is None or stage not in api.stages or path is None:
            return refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        routed = api.route(request.method, path)
        if routed is None:  # API Gateway answers an unknown route like an unsigned request
            return refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        method, path_params = routed
        identity: dict[str, Any] = {"sourceIp": request.remote_addr or "127.0.0.1",
                                    "userAgent": request.headers.get("User-Agent", "")}
        if method.authorization_type == "AWS_IAM":
            method_arn = path.method_arn(self.region, self.account, api_id, stage, request.method)
            denied = self._authorize(request, method_arn, identity)
            if denied is not None:
                return denied
        body = request.get_data()
        if len(body) > REQUEST_LIMITS["execute-api"]:  # the engine's HTTP server refuses it before reading it
            return refusal(API_TOO_LARGE.status, API_TOO_LARGE.error_type, API_TOO_LARGE.message)
        content_type = (request.mimetype or DEFAULT_CONTENT_TYPE).lower()
        parameters = {
            "path": path_params,
            "querystring": {k: v for k, v in request.args.items()},
            "header": {k: v for k, v in request.headers.items()},
        }
        invalid = self._validate(api, method, content_type, body, parameters)
        if invalid is not None:
            return invalid
        templates: dict[str, str] = method.integration.get("RequestTemplates", {})
        template = templates.get(content_type)
        behavior = method.integration.get("PassthroughBehavior", "WHEN_NO_MATCH")
        if template is None and (behavior == "NEVER" or (behavior == "WHEN_NO_TEMPLATES" and templates)):
            return refusal(415, "UnsupportedMediaTypeException", "Unsupported Media Type")
        context = self._context(api_id, stage, method, path.decoded, request, request_id, identity)
        try:
            integration_body = (vtl.render(template, body=body.decode(errors="replace"), parameters=parameters,
                                           context=context).body if template is not None else body.decode())
        except vtl.TemplateError:
            return refusal(500, "InternalServerErrorException", "Internal server error")
        return self._integrate(method, integration_body.encode(), parameters, context, request)

    def _authorize(self, request: Request, method_arn: str, identity: dict[str, Any]) -> Response | None:
        # the path as sent: its resource part is the ResourcePath the request was routed by (checked canonical)
        signed = sigv4.SignedRequest(
            method=request.method, raw_path=sent_path(request),
            raw_query=request.environ.get("QUERY_STRING", ""),
            headers=sent_headers(request), body=request.get_data())
        try:
            credential = sigv4.verify(signed, self.credentials, region=self.region)
        except sigv4.SignatureError as exc:
            return refusal(exc.status, exc.error_type, exc.message)
        decision = iam.evaluate(self.policies(credential.role_arn), "execute-api:Invoke", method_arn)
        if decision is not iam.Decision.ALLOW:
            # API Gateway's IAM refusal capitalises the key: {"Message": "User: ... is not authorized ..."}
            message = iam.not_authorized_message(credential.principal_arn, "execute-api:Invoke", method_arn,
                                                 decision)
            return Response(json.dumps({"Message": message}), status=403, content_type="application/json",
                            headers={"x-amzn-ErrorType": "AccessDeniedException"})
        identity.update({"caller": credential.principal_arn.split("/", 1)[-1], "user": credential.access_key_id,
                         "userArn": credential.principal_arn, "accessKey": credential.access_key_id,
                         "accountId": self.account})
        return None

    def _validate(self, api: RestApiSpec, method: MethodSpec, content_type: str, body: bytes,
                  parameters: dict[str, dict[str, str]]) -> Response | None:
        if method.validate_parameters:
            missing = []
            for name, required in method.request_parameters.items():
                _, _, location, key = [*name.split(".", 3), "", "", "", ""][:4]
                bucket = {"path": "path", "querystring": "querystring", "header": "header"}.get(location, location)
                present = parameters.get(bucket, {})
                if required and key not in present and key.lower() not in {k.lower() for k in present}:
                    missing.append(key)
            if missing:
                return refusal(400, "BadRequestException",
                               f"Missing required request parameters: [{', '.join(missing)}]")
        if not method.validate_body:
            return None
        model_name = method.request_models.get(content_type) or method.request_models.get("$default")
        if model_name is None or model_name not in api.models:
            return None
        try:
            document = json.loads(body or b"null")
            jsonschema.Draft4Validator(api.models[model_name]).validate(document)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, jsonschema.ValidationError):
            # RecursionError: JSON nested deeper than the parser goes is as invalid a body as any
            return refusal(400, "BadRequestException", "Invalid request body")
        return None

    def _context(self, api_id: str, stage: str, method: MethodSpec, path: str, request: Request,
                 request_id: str, identity: dict[str, Any]) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        return {
            "requestId": request_id, "extendedRequestId": request_id, "apiId": api_id, "stage": stage,
            "httpMethod": request.method, "resourcePath": method.resource_path,
            "path": f"/{stage}{path}", "protocol": "HTTP/1.1", "accountId": self.account,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "requestTimeEpoch": int(now.timestamp() * 1000),
            "domainName": request.host, "identity": identity,
        }

    def _integrate(self, method: MethodSpec, payload: bytes, parameters: dict[str, dict[str, str]],
                   context: dict[str, Any], request: Request) -> Response:
        integration = method.integration
        if integration.get("Type") != "AWS":
            return refusal(500, "InternalServerErrorException", "Internal server error")
        match = _URI.match(integration.get("Uri", ""))
        if match is None:
            return refusal(500, "InternalServerErrorException", "Internal server error")
        service, action = match.group(2), match.group(3)
        status, body = self.call_service(service, action, payload, integration.get("Credentials", ""))
        chosen = select_integration_response(integration.get("IntegrationResponses", []), str(status))
        if chosen is None:
            return refusal(500, "InternalServerErrorException", "Internal server error")
        templates: dict[str, str] = chosen.get("ResponseTemplates", {})
        accept = request.headers.get("Accept", "")
        content_type = next((ct for ct in templates if ct in accept), next(iter(templates), DEFAULT_CONTENT_TYPE))
        out_status = int(chosen["StatusCode"])
        headers: dict[str, str] = {}
        text = body.decode(errors="replace")
        if content_type in templates:
            context = {**context, "responseOverride": {"header": {}}}
            try:
                rendered = vtl.render(templates[content_type], body=text, parameters=parameters, context=context)
            except vtl.TemplateError:
                return refusal(500, "InternalServerErrorException", "Internal server error")
            text = rendered.body
            out_status = rendered.status_override or out_status
            headers.update(rendered.header_overrides)
        for name, value in chosen.get("ResponseParameters", {}).items():
            if name.startswith("method.response.header.") and value.startswith("'") and value.endswith("'"):
                headers.setdefault(name.removeprefix("method.response.header."), value[1:-1])
        response = Response(text, status=out_status)
        response.headers["Content-Type"] = headers.pop("Content-Type", content_type)
        for name, value in headers.items():
            response.headers[name] = value
        return response


def select_integration_response(responses: list[dict[str, Any]], status: str) -> dict[str, Any] | None:
    """The response whose selection pattern matches the whole status code, else the default one."""
    default = None
    for response in responses:
        pattern = response.get("SelectionPattern")
        if not pattern:
            default = default or response
        elif re.fullmatch(pattern, status):
            return response
    return default



RAW_HEADERS = "jobkit.raw_headers"
"""The environ key under which the engine's HTTP server keeps the request's headers as sent."""


def sent_path(request: Request) -> str:
    """The request's path as sent: still percent-encoded (werkzeug's ``request.path`` is decoded, so ``%2F``
    would read as a separator), without the query."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return request.path
    if not raw.startswith("/"):  # absolute form, "http://host/path" (RFC 9112, 3.2.2)
        raw = urlsplit(raw).path or "/"
    return raw.split("?", 1)[0]


def sent_headers(request: Request) -> dict[str, str]:
    """The request's headers as sent (names lower-cased, repeated ones joined with commas, as SigV4's
    canonical headers join them); WSGI's view of them when the server kept none."""
    raw = request.environ.get(RAW_HEADERS)
    if raw is None:
        return dict(request.headers.items())
    joined: dict[str, str] = {}
    for name, value in raw:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def refusal(status: int, error_type: str, message: str) -> Response:
    """A gateway response with API Gateway's default body and headers."""
    return Response(json.dumps({"message": message}), status=status, content_type="application/json",
                    headers={"x-amzn-ErrorType": error_type})
