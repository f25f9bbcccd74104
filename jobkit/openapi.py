"""An OpenAPI 3.0 description of the Jobs API, generated from the synthesized template.

The stack is the one description of the API: paths come from its ``AWS::ApiGateway::Resource`` tree,
operations from its ``AWS::ApiGateway::Method`` resources, the request body from the
``AWS::ApiGateway::Model`` the method validates against, the responses from the method responses plus
the ones API Gateway itself answers (400 when the request validator refuses the body, 415 when a body
has no mapping template and passthrough is NEVER, 403 when ``AWS_IAM`` refuses the caller). A fuzzer
(``jobkit.fuzz``) and clients work from this document, so it can never drift from what is deployed.

SigV4 appears as API Gateway exports it: an ``apiKey`` scheme on the ``Authorization`` header with
``x-amazon-apigateway-authtype: awsSigv4`` ("x-amazon-apigateway-authtype property", Amazon API Gateway
Developer Guide, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authtype.html).

    python -m jobkit.openapi --base-url http://127.0.0.1:4566/restapis/abc/dev/_user_request_/ -o openapi.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from jobkit.deploy.template import Template
from jobkit.errors import JobkitError
from jobkit.project import ROOT

OPENAPI_VERSION: Final = "3.0.3"
SIGV4_SCHEME: Final = "sigv4"
SIGV4_SECURITY_SCHEME: Final[dict[str, str]] = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "x-amazon-apigateway-authtype": "awsSigv4",
}

# draft-04 keywords that mean the same in an OpenAPI 3.0 Schema Object (a subset of draft-04 itself)
_SAME_KEYWORDS: Final = frozenset({
    "title", "description", "type", "required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "pattern", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "enum", "format", "default", "multipleOf",
})
_SCHEMA_KEYWORDS: Final = frozenset({"properties", "items", "additionalProperties"})
_IGNORED_KEYWORDS: Final = frozenset({"$schema", "id"})

# The method responses name only the `Empty` model; these shapes are what stack/vtl/ and API Gateway's
# own (gateway) responses render.
RESPONSE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "Error": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}},
        "description": "Every refusal says why in `message`",
    },
    "JobAccepted": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string", "description": "the request id of the POST: the job's id"}},
    },
    "JobStatuses": {
        "type": "object",
        "description": "The status of each consumer that has written one, by consumer id",
        "additionalProperties": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["Running", "Success", "Failure"]},
                "results": {"type": "string"},
                "seconds": {"type": "integer"},
                "error": {"type": "string"},
            },
        },
    },
}
_SUCCESS_SCHEMAS: Final[dict[tuple[str, str], str]] = {
    ("post", "/jobs"): "JobAccepted",
    ("get", "/jobs/{jobId}"): "JobStatuses",
}
_DESCRIPTIONS: Final[dict[str, str]] = {
    "200": "OK",
    "400": "Refused: the id cannot be a key of the jobs table",
    "403": "Refused by AWS_IAM: missing, invalid or expired SigV4 signature, or a principal not allowed",
    "404": "No job with this id",
    "415": "The body's content type has no mapping template",
    "500": "The jobs table refused a validated request",
    "503": "The jobs table is unavailable, retry later",
}


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref(value: Any) -> str | None:
    """The logical id a ``{"Ref": id}`` points at."""
    if isinstance(value, Mapping) and isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    return None


def _is_root(value: Any) -> bool:
    """``{"Fn::GetAtt": [api, "RootResourceId"]}``: the API's root resource."""
    if not isinstance(value, Mapping):
        return False
    att = value.get("Fn::GetAtt")
    return isinstance(att, list) and len(att) == 2 and att[1] == "RootResourceId"


def draft4_to_openapi(schema: Mapping[str, Any], where: str = "schema") -> dict[str, Any]:
    """An API Gateway model (JSON Schema draft-04) as an OpenAPI 3.0 Schema Object.

    Keywords the two share are kept as they are; anything else is refused by name rather than dropped,
    so the document never accepts a body the API refuses.
    """
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _IGNORED_KEYWORDS:
            continue
        if key == "type" and isinstance(value, list):
            raise JobkitError(f"{where}: type {value!r} is a list, which OpenAPI 3.0 cannot say")
        if key in _SAME_KEYWORDS:
            converted[key] = value
        elif key == "properties":
            converted[key] = {
                name: draft4_to_openapi(sub, f"{where}.properties.{name}") for name, sub in dict(value).items()
            }
        elif key in {"items", "additionalProperties"}:
            converted[key] = value if isinstance(value, bool) else draft4_to_openapi(value, f"{where}.{key}")
        else:
            raise JobkitError(f"{where}: draft-04 keyword {key!r} has no OpenAPI 3.0 counterpart here")
    return converted


class _Api:
    """The RestApi of the template and its resources, methods, models and validators."""

    def __init__(self, template: Template) -> None:
        apis = template.of_type("AWS::ApiGateway::RestApi")
        if len(apis) != 1:
            raise JobkitError(
                f"expected one AWS::ApiGateway::RestApi in the template, found {len(apis)}", "run `make synth`"
            )
        (self.api_id, api), = apis.items()
        self.properties: Mapping[str, Any] = api.get("Properties", {})
        self.template = template

    def _own(self, type_: str) -> dict[str, Mapping[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.template.of_type(type_).items()
            if _ref(resource.get("Properties", {}).get("RestApiId")) == self.api_id
        }

    def paths(self) -> dict[str, str]:
        """Logical id of each resource -> its path (``/jobs/{jobId}``)."""
        resources = self._own("AWS::ApiGateway::Resource")
        paths: dict[str, str] = {}

        def path_of(logical_id: str, seen: tuple[str, ...] = ()) -> str:
            if logical_id in paths:
                return paths[logical_id]
            if logical_id in seen or logical_id not in resources:
                raise JobkitError(f"API resource {logical_id} has no parent chain to the root")
            props = resources[logical_id]
            parent = props.get("ParentId")
            prefix = "" if _is_root(parent) else path_of(_ref(parent) or "?", (*seen, logical_id))
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
            return paths[logical_id]

        for logical_id in resources:
            path_of(logical_id)
        return paths

    def methods(self) -> list[Mapping[str, Any]]:
        return list(self._own("AWS::ApiGateway::Method").values())

    def model(self, reference: Any) -> tuple[str, Mapping[str, Any]]:
        """The name and draft-04 schema of the model a method refers to."""
        logical_id = _ref(reference)
        models = self._own("AWS::ApiGateway::Model")
        if logical_id is None or logical_id not in models:
            raise JobkitError(f"request model {reference!r} is not an AWS::ApiGateway::Model of the template")
        props = models[logical_id]
        return str(props.get("Name") or logical_id), props["Schema"]

    def validates_body(self, reference: Any) -> bool:
        logical_id = _ref(reference)
        validator = self._own("AWS::ApiGateway::RequestValidator").get(logical_id or "")
        return bool(validator and validator.get("ValidateRequestBody"))


def _operation(
    api: _Api, path: str, method: Mapping[str, Any], schemas: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One operation; the models it uses are added to ``schemas``."""
    verb = str(method["HttpMethod"]).lower()
    integration: Mapping[str, Any] = method.get("Integration", {})
    descriptions = {str(r["StatusCode"]): _DESCRIPTIONS.get(str(r["StatusCode"]), "")
                    for r in method.get("MethodResponses", [])}
    words = [part.strip("{}") for part in path.split("/") if part]
    operation: dict[str, Any] = {"operationId": verb + "".join(w[:1].upper() + w[1:] for w in words)}

    parameters = []
    for key, required in dict(method.get("RequestParameters", {})).items():
        prefix, _, name = key.rpartition(".")
        location = prefix.removeprefix("method.request.")
        openapi_in = {"path": "path", "querystring": "query", "header": "header"}.get(location)
        if openapi_in is None:
            raise JobkitError(f"{verb.upper()} {path}: request parameter {key} is not path, querystring or header")
        parameters.append({
            "name": name, "in": openapi_in, "required": True if openapi_in == "path" else bool(required),
            "schema": {"type": "string"},
        })
    if parameters:
        operation["parameters"] = parameters

    models: Mapping[str, Any] = method.get("RequestModels", {})
    if models:
        content: dict[str, Any] = {}
        for content_type, reference in models.items():
            name, schema = api.model(reference)
            schemas[name] = draft4_to_openapi(schema, f"model {name}")
            content[content_type] = {"schema": _schema_ref(name)}
        operation["requestBody"] = {"required": True, "content": content}
        if api.validates_body(method.get("RequestValidatorId")):
            names = ", ".join(sorted(api.model(ref)[0] for ref in models.values()))
            descriptions["400"] = f"Refused by the request validator: the body does not match {names}"
    if integration.get("PassthroughBehavior") == "NEVER" and integration.get("RequestTemplates"):
        descriptions["415"] = _DESCRIPTIONS["415"]  # UNSUPPORTED_MEDIA_TYPE
    if method.get("AuthorizationType") == "AWS_IAM":
        # MISSING_AUTHENTICATION_TOKEN, INVALID_SIGNATURE, EXPIRED_TOKEN, ACCESS_DENIED
        descriptions["403"] = _DESCRIPTIONS["403"]
        operation["security"] = [{SIGV4_SCHEME: []}]

    success = _SUCCESS_SCHEMAS.get((verb, path))
    responses: dict[str, Any] = {}
    for code in sorted(descriptions):
        body = success if code.startswith("2") else "Error"
        responses[code] = {"description": descriptions[code] or f"HTTP {code}"}
        if body is not None:
            schemas[body] = RESPONSE_SCHEMAS[body]
            responses[code]["content"] = {"application/json": {"schema": _schema_ref(body)}}
    operation["responses"] = responses
    return operation


def openapi_document(template: Template, base_url: str, *, version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI 3.0 document of the template's REST API, served at ``base_url`` (the stage URL)."""
    api = _Api(template)
    paths = api.paths()
    document_paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for method in api.methods():
        verb = str(method.get("HttpMethod", "")).lower()
        if verb in {"options", "any"}:  # CORS preflight / catch-all: nothing a client calls by name
            continue
        resource = _ref(method.get("ResourceId"))
        path = "/" if _is_root(method.get("ResourceId")) else paths.get(resource or "")
        if path is None:
            raise JobkitError(f"method {verb.upper()} is on an unknown resource {method.get('ResourceId')!r}")
        document_paths.setdefault(path, {})[verb] = _operation(api, path, method, schemas)
    info: dict[str, Any] = {"title": str(api.properties.get("Name", api.api_id)), "version": version}
    if api.properties.get("Description"):
        info["description"] = str(api.properties["Description"])
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": dict(sorted(document_paths.items())),
        "components": {
            "schemas": copy.deepcopy(dict(sorted(schemas.items()))),
            "securitySchemes": {SIGV4_SCHEME: dict(SIGV4_SECURITY_SCHEME)},
        },
    }


def write_openapi(document: Mapping[str, Any], path: Path) -> Path:
    """Write the document as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    if path.suffix in {".yaml", ".yml"}:
        text = yaml.safe_dump(dict(document), sort_keys=False)
    else:
        text = json.dumps(document, indent=2) + "\n"
    path.write_text(text)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobkit.openapi``: one clear line and exit 1 on any problem, never a traceback."""
    parser = argparse.ArgumentParser(prog="python -m jobkit.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the stage URL, e.g. the JobsApiUrl output")
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out", help="the synthesized cloud assembly")
    parser.add_argument("-o", "--output", type=Path, help="file to write (.json, .yaml); stdout when omitted")
    args = parser.parse_args(argv)
    try:
        document = openapi_document(Template.load(args.cdk_out), args.base_url)
        if args.output is None:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            write_openapi(document, args.output)
    except (JobkitError, OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
