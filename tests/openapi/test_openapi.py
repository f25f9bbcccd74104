"""The OpenAPI document generated from the synthesized template: valid, faithful to the stack, signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from jobkit.deploy.template import Template
from jobkit.errors import JobkitError
from jobkit.openapi import SIGV4_SCHEME, draft4_to_openapi, main, openapi_document
from stack.settings import STACK_NAME
from tests.openapi.conftest import BASE_URL


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def _body_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(document, schema)


def _template_operations(template: Template) -> set[tuple[str, str]]:
    """(verb, path) of every method, walking PathPart/ParentId independently of jobkit.openapi."""
    resources = template.of_type("AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"].lower(), path(m["Properties"]["ResourceId"]["Ref"]))
        for m in template.of_type("AWS::ApiGateway::Method").values()
    }


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.0.")
    assert document["info"]["title"] == "JobsAPI"


def test_paths_and_methods_are_the_templates(document: dict[str, Any], template: Template) -> None:
    operations = {(verb, path) for path, item in document["paths"].items() for verb in item}
    assert operations == _template_operations(template) == {("post", "/jobs"), ("get", "/jobs/{jobId}")}
    (parameter,) = document["paths"]["/jobs/{jobId}"]["get"]["parameters"]
    assert parameter == {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}


def test_the_server_is_the_given_base_url(document: dict[str, Any]) -> None:
    assert document["servers"] == [{"url": BASE_URL.rstrip("/")}]


def test_the_body_schema_is_the_model_without_draft_04_markers(document: dict[str, Any], template: Template) -> None:
    (model,) = template.of_type("AWS::ApiGateway::Model").values()
    expected = {k: v for k, v in model["Properties"]["Schema"].items() if k != "$schema"}
    assert _body_schema(document) == expected
    assert document["paths"]["/jobs"]["post"]["requestBody"]["required"] is True


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({}, False),
        ({"seconds": 1, "extra": True}, False),
        ({"seconds": 0}, False),
        ({"seconds": 86401}, False),
        ({"seconds": "1"}, False),
        ({"seconds": 1.5}, False),
        ({"seconds": 1, "fault": "no spaces"}, False),
        ({"seconds": 1, "fault": "x" * 65}, False),
        ([], False),
        ({"seconds": 1}, True),
        ({"seconds": 86400, "fault": "processor-raise_1.v2"}, True),
    ],
)
def test_the_body_schema_refuses_what_the_validator_refuses(
    document: dict[str, Any], body: Any, accepted: bool
) -> None:
    validator = jsonschema.Draft4Validator(_body_schema(document))
    assert validator.is_valid(body) is accepted, list(validator.iter_errors(body))


def test_without_fault_injection_a_fault_is_an_extra_property(template_no_faults: Template) -> None:
    document = openapi_document(template_no_faults, BASE_URL)
    validate(document)
    validator = jsonschema.Draft4Validator(_body_schema(document))
    assert validator.is_valid({"seconds": 1})
    assert not validator.is_valid({"seconds": 1, "fault": "boom"})


def test_responses_are_the_method_responses_plus_api_gateways_own(document: dict[str, Any]) -> None:
    post = document["paths"]["/jobs"]["post"]["responses"]
    get = document["paths"]["/jobs/{jobId}"]["get"]["responses"]
    # 400: request validator; 415: passthrough NEVER; 403: AWS_IAM; the rest: the method responses
    assert set(post) == {"200", "400", "403", "415", "500", "503"}
    assert set(get) == {"200", "400", "403", "404", "503"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["message"]
    for responses in (post, get):
        for code, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            assert (schema == {"$ref": "#/components/schemas/Error"}) is (code != "200")
    jsonschema.Draft4Validator(_resolve(document, post["200"]["content"]["application/json"]["schema"])).validate(
        {"id": "0f7f1f38-8f5d-4d2f-b8c9-1b6c3f2f9a10"}
    )
    statuses = _resolve(document, get["200"]["content"]["application/json"]["schema"])
    jsonschema.Draft4Validator(statuses).validate(
        {"consumer_1": {"status": "Success", "results": "I slept for 1 seconds"},
         "consumer_2": {"status": "Failure", "seconds": 1, "error": "RetryAttemptsExhausted"}}
    )
    assert not jsonschema.Draft4Validator(statuses).is_valid({"consumer_1": {"status": "Done"}})


def test_sigv4_is_the_security_of_both_operations(document: dict[str, Any]) -> None:
    # As API Gateway exports IAM authorization ("x-amazon-apigateway-authtype property", API Gateway
    # Developer Guide): an apiKey scheme on the Authorization header, authtype awsSigv4.
    assert document["components"]["securitySchemes"] == {
        SIGV4_SCHEME: {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["security"] == [{SIGV4_SCHEME: []}]
    assert "security" not in document  # no global default: each operation says it


def test_a_method_without_iam_has_no_security_and_no_403(template: Template) -> None:
    body = json.loads(json.dumps(template.body))
    for method in Template(body).of_type("AWS::ApiGateway::Method").values():
        method["Properties"]["AuthorizationType"] = "NONE"
    document = openapi_document(Template(body), BASE_URL)
    validate(document)
    for item in document["paths"].values():
        for operation in item.values():
            assert "security" not in operation and "403" not in operation["responses"]


def test_draft4_keywords_without_a_counterpart_are_refused_not_dropped() -> None:
    with pytest.raises(JobkitError, match="'dependencies'"):
        draft4_to_openapi({"type": "object", "dependencies": {"a": ["b"]}}, "model M")
    with pytest.raises(JobkitError, match="is a list"):
        draft4_to_openapi({"type": ["string", "null"]}, "model M")
    assert draft4_to_openapi(
        {"$schema": "http://json-schema.org/draft-04/schema#", "type": "array", "items": {"type": "integer"}}
    ) == {"type": "array", "items": {"type": "integer"}}


def test_a_template_without_exactly_one_rest_api_is_refused(template: Template) -> None:
    body = {"Resources": {k: v for k, v in template.resources.items() if v["Type"] != "AWS::ApiGateway::RestApi"}}
    with pytest.raises(JobkitError, match="found 0"):
        openapi_document(Template(body), BASE_URL)


@pytest.mark.parametrize("name", ["openapi.json", "openapi.yaml"])
def test_the_cli_writes_json_or_yaml(template: Template, tmp_path: Path, name: str) -> None:
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / f"{STACK_NAME}.template.json").write_text(json.dumps(template.body))
    output = tmp_path / name
    assert main(["--cdk-out", str(cdk_out), "--base-url", BASE_URL, "-o", str(output)]) == 0
    written = json.loads(output.read_text()) if name.endswith(".json") else yaml.safe_load(output.read_text())
    validate(written)
    assert written == openapi_document(template, BASE_URL)


def test_the_cli_says_one_line_without_a_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cdk-out", str(tmp_path / "nowhere"), "--base-url", BASE_URL]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "no synthesized template" in captured.err
