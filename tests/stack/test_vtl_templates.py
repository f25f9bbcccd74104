"""Renders the mapping templates exactly as synthesized, with the engine the sandbox uses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobkit.engine.services.apigateway.vtl import escape_javascript, render


def _resolve(value: Any) -> str:
    """Fn::Join of literal strings and a Ref (the table name) -> the text API Gateway would get."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join("JobsTable-1234" if isinstance(p, dict) else p for p in parts)
    raise AssertionError(f"unexpected template value {value!r}")


@pytest.fixture(scope="module")
def integrations(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        m["Properties"]["HttpMethod"]: m["Properties"]["Integration"]
        for m in template_json["Resources"].values() if m["Type"] == "AWS::ApiGateway::Method"
    }


def response_template(integration: dict[str, Any], status: str) -> str:
    [response] = [r for r in integration["IntegrationResponses"] if r["StatusCode"] == status]
    return _resolve(response["ResponseTemplates"]["application/json"])


def test_post_writes_the_job_with_the_request_id(integrations: dict[str, dict[str, Any]]) -> None:
    template = _resolve(integrations["POST"]["RequestTemplates"]["application/json"])
    rendered = render(template, body='{"seconds": 7}', context={"requestId": "3f1c-req"})
    assert json.loads(rendered.body) == {
        "TableName": "JobsTable-1234",
        "ConditionExpression": "attribute_not_exists(id)",
        "Item": {"id": {"S": "3f1c-req"}, "job_status": {"M": {}}, "seconds": {"N": "7"}, "version": {"N": "0"}},
    }


def test_post_keeps_the_fault_name_when_given(integrations: dict[str, dict[str, Any]]) -> None:
    template = _resolve(integrations["POST"]["RequestTemplates"]["application/json"])
    rendered = render(template, body='{"seconds": 1, "fault": "plan-1"}', context={"requestId": "r"})
    assert json.loads(rendered.body)["Item"]["fault"] == {"S": "plan-1"}


def test_post_answers_the_job_id(integrations: dict[str, dict[str, Any]]) -> None:
    rendered = render(response_template(integrations["POST"], "200"), body="{}", context={"requestId": "abc-1"})
    assert json.loads(rendered.body) == {"id": "abc-1"}
    assert rendered.status_override is None


@pytest.mark.parametrize("job_id", ["abc-1", "it's", 'quo"te', "ünï/cödé"])
def test_get_builds_a_valid_get_item_for_any_id(integrations: dict[str, dict[str, Any]], job_id: str) -> None:
    template = _resolve(integrations["GET"]["RequestTemplates"]["application/json"])
    rendered = render(template, parameters={"path": {"jobId": job_id}})
    request = json.loads(rendered.body)
    assert request["Key"] == {"id": {"S": job_id}}
    assert request["ConsistentRead"] is True
    assert request["TableName"] == "JobsTable-1234"


def test_get_flattens_the_statuses(integrations: dict[str, dict[str, Any]]) -> None:
    item = {"Item": {
        "id": {"S": "j1"}, "seconds": {"N": "301"}, "version": {"N": "4"},
        "job_status": {"M": {
            "consumer_1": {"M": {"status": {"S": "Success"}, "results": {"S": "I slept for 2 seconds"}}},
            "consumer_2": {"M": {"status": {"S": "Failure"}, "seconds": {"N": "301"},
                                 "error": {"S": "RetryAttemptsExhausted: it's \"Unhandled\"\n"}}},
        }},
    }}
    rendered = render(response_template(integrations["GET"], "200"), body=json.dumps(item))
    assert rendered.status_override is None
    assert json.loads(rendered.body) == {
        "consumer_1": {"status": "Success", "results": "I slept for 2 seconds"},
        "consumer_2": {"status": "Failure", "seconds": 301,
                       "error": "RetryAttemptsExhausted: it's \"Unhandled\"\n"},
    }


def test_get_of_a_job_nobody_processed_yet_is_an_empty_object(integrations: dict[str, dict[str, Any]]) -> None:
    item = {"Item": {"id": {"S": "j1"}, "job_status": {"M": {}}}}
    rendered = render(response_template(integrations["GET"], "200"), body=json.dumps(item))
    assert json.loads(rendered.body) == {}


def test_get_of_an_unknown_id_is_a_404_with_a_message(integrations: dict[str, dict[str, Any]]) -> None:
    rendered = render(response_template(integrations["GET"], "200"), body="{}")
    assert rendered.status_override == 404
    assert json.loads(rendered.body) == {"message": "Job not found"}


@pytest.mark.parametrize(("method", "status"), [("GET", "400"), ("POST", "500")])
def test_dynamodb_errors_become_messages(integrations: dict[str, dict[str, Any]], method: str, status: str) -> None:
    body = json.dumps({"__type": "com.amazon.coral.validate#ValidationException", "message": "key too long"})
    rendered = render(response_template(integrations[method], status), body=body)
    answer = json.loads(rendered.body)
    assert answer["type"] == "com.amazon.coral.validate#ValidationException"
    assert answer["message"]
    unavailable = json.loads(render(response_template(integrations[method], "503"), body=body).body)
    assert "retry" in unavailable["message"]


def test_escape_javascript_follows_javascript_string_rules() -> None:
    assert escape_javascript("it's \"x\"\n/\t") == "it\\'s \\\"x\\\"\\n\\/\\t"
    assert escape_javascript("é") == "\\u00E9"
