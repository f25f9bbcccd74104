"""One AWS error in each protocol, and the 501 of an operation the engine does not implement."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # parses the engine's own answer
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.engine.core.errors import AwsError, protocol_of, rest_operation


def test_json_protocol_error() -> None:
    answer = AwsError("ResourceNotFoundException", "no such table", 400).response("dynamodb")
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert answer.content_type == "application/x-amz-json-1.0"
    assert json.loads(answer.get_data()) == {"__type": "ResourceNotFoundException", "message": "no such table"}


def test_rest_json_protocol_error() -> None:
    answer = AwsError("ResourceNotFoundException", "Function not found", 404).response("lambda")
    assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (404, "ResourceNotFoundException")
    assert json.loads(answer.get_data()) == {"message": "Function not found"}


def test_query_protocol_error() -> None:
    answer = AwsError("NotFound", "Topic does not exist", 404).response("sns")
    root = ET.fromstring(answer.get_data())  # noqa: S314
    ns = {"n": "http://sns.amazonaws.com/doc/2010-03-31/"}
    assert root.find("n:Error/n:Code", ns).text == "NotFound"  # type: ignore[union-attr]
    assert root.find("n:Error/n:Type", ns).text == "Sender"  # type: ignore[union-attr]
    assert root.find("n:Error/n:Message", ns).text == "Topic does not exist"  # type: ignore[union-attr]


def test_protocols_and_rest_routes_come_from_the_service_models() -> None:
    assert [protocol_of(s) for s in ("dynamodb", "lambda", "sns", "sqs")] == ["json", "rest-json", "query", "json"]
    assert rest_operation("lambda", "POST", "/2015-03-31/functions/f/invocations") == "Invoke"
    assert rest_operation("lambda", "GET", "/2015-03-31/nothing/here") == ""


@pytest.mark.parametrize(("service", "operation", "args"), [
    ("lambda", "get_runtime_management_config", {"FunctionName": "f"}),
    ("events", "describe_endpoint", {"Name": "e"}),
    ("sns", "get_data_protection_policy", {"ResourceArn": "arn:aws:sns:us-east-1:000000000000:t"}),
    ("dynamodb", "describe_contributor_insights", {"TableName": "t"}),
    ("logs", "get_log_anomaly_detector", {"anomalyDetectorArn": "arn:aws:logs:us-east-1:000000000000:x"}),
])
def test_an_operation_the_engine_does_not_implement_is_a_501_naming_it(
        moto_endpoint: Callable[[str], Any], service: str, operation: str, args: dict[str, Any]) -> None:
    client = moto_endpoint(service)
    with pytest.raises(ClientError) as refused:
        getattr(client, operation)(**args)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Error"]["Code"] == "InternalFailure"
    name = client.meta.method_to_api_mapping[operation]
    assert f"does not implement {service} {name}" in error["Error"]["Message"]


@pytest.mark.parametrize(("service", "backend_method", "operation", "args"), [
    ("sns", "moto.sns.models.SNSBackend.list_topics", "list_topics", {}),  # query protocol
    ("ssm", "moto.ssm.models.SimpleSystemManagerBackend.describe_parameters", "describe_parameters", {}),  # JSON
    ("lambda", "moto.awslambda.models.LambdaBackend.list_functions", "list_functions", {}),  # REST-JSON
])
def test_a_failure_inside_moto_is_an_internal_failure_in_the_services_protocol(
        moto_endpoint: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, service: str, backend_method: str,
        operation: str, args: dict[str, Any]) -> None:
    """Never a bare HTML 500: the SDK reads the error as it reads any other (and retries it, as it retries a 500)."""
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a store that broke")

    monkeypatch.setattr(backend_method, broken)
    client = moto_endpoint(service)
    client.meta.config.retries = {"max_attempts": 0}
    with pytest.raises(ClientError) as failed:
        getattr(client, operation)(**args)
    error = failed.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Error"]["Code"] == "InternalFailure"
    assert "RuntimeError: a store that broke" in error["Error"]["Message"]
