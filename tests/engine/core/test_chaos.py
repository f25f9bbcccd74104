"""The Chaos API on the session's engine: LocalStack's shapes ("Chaos API",
https://docs.localstack.cloud/user-guide/chaos-engineering/chaos-api/), its validation, and the faults met by
the calls the engine serves and by the calls the platform makes for itself."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.engine.core.chaos import Chaos, parse_effects, parse_rules
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.core.errors import AwsError
from jobkit.engine.runtime import EmbeddedEngine

THROTTLE = {"service": "dynamodb", "operation": "UpdateItem", "probability": 1.0,
            "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def chaos(engine: EmbeddedEngine) -> Iterator[str]:
    """The engine's Chaos API; every fault and effect cleared after the test, however it ends."""
    url = f"{engine.endpoint_url}/_localstack/chaos"
    yield url
    engine.chaos.clear()


def _client(deployment: Deployment, service: str) -> Any:
    return deployment.session().client(service, endpoint_url=deployment.endpoint_url, config=NO_RETRIES)


# --- the endpoints' shapes ------------------------------------------------------------------------------
def test_post_replaces_patch_adds_delete_removes_and_each_answer_is_the_rules(chaos: str) -> None:
    faults = f"{chaos}/faults"
    assert requests.get(faults, timeout=10).json() == []
    first = [{"service": "s3", "region": "us-east-1"}, {"service": "lambda"}]
    answer = requests.post(faults, json=first, timeout=10)
    assert answer.status_code == 200 and answer.json() == first
    added = {"service": "kinesis", "operation": "PutRecord", "probability": 0.3,
             "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}
    assert requests.patch(faults, json=[added], timeout=10).json() == [*first, added]
    assert requests.delete(faults, json=[{"service": "lambda"}], timeout=10).json() == [first[0], added]
    assert requests.delete(faults, json=[{"service": "lambda", "region": "x"}], timeout=10).json() == [first[0], added]
    assert requests.post(faults, json=[], timeout=10).json() == []
    assert requests.get(faults, timeout=10).json() == []


def test_effects_read_and_set_the_latency(chaos: str) -> None:
    effects = f"{chaos}/effects"
    assert requests.get(effects, timeout=10).json() == {"latency": 0}
    assert requests.post(effects, json={"latency": 5}, timeout=10).json() == {"latency": 5}
    assert requests.get(effects, timeout=10).json() == {"latency": 5}


@pytest.mark.parametrize(("body", "said"), [
    ({"service": "sns"}, "JSON array"),
    ([{"service": "sns", "resource": "x"}], "unknown keys resource"),
    (["sns"], "rule 0 must be an object"),
    ([{"service": ""}], "service must be a non-empty string"),
    ([{"operation": 7}], "operation must be a non-empty string"),
    ([{"probability": 1.5}], "probability must be a number from 0 to 1"),
    ([{"probability": True}], "probability must be a number from 0 to 1"),
    ([{"error": {"statusCode": 200}}], "from 400 to 599"),
    ([{"error": {"statusCode": "503"}}], "from 400 to 599"),
    ([{"error": {"code": ""}}], "error.code"),
    ([{"error": {"status": 500}}], "unknown error keys status"),
    ([{"error": "boom"}], "error must be an object"),
])
def test_a_bad_rule_is_refused_with_a_message_and_changes_nothing(chaos: str, body: Any, said: str) -> None:
    faults = f"{chaos}/faults"
    requests.post(faults, json=[THROTTLE], timeout=10)
    for method in ("POST", "PATCH", "DELETE"):
        answer = requests.request(method, faults, data=json.dumps(body), timeout=10)
        assert answer.status_code == 400 and said in answer.json()["message"], (method, answer.text)
    assert requests.get(faults, timeout=10).json() == [THROTTLE]


def test_bad_effects_and_methods_are_refused(chaos: str) -> None:
    for body in ('{"latency": -1}', '{"latency": 1.5}', '{"latency": 60001}', '{"jitter": 5}', "[]", "{", "NaN"):
        answer = requests.post(f"{chaos}/effects", data=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["message"], body
    answer = requests.put(f"{chaos}/faults", json=[], timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, POST, PATCH, DELETE"
    assert requests.patch(f"{chaos}/effects", json={}, timeout=10).status_code == 405
    assert requests.post(f"{chaos}/faults", data="not json", timeout=10).status_code == 400


def test_the_parsers_take_what_localstack_documents() -> None:
    assert parse_rules(b"[{}]") == [{}]
    assert parse_rules(json.dumps([THROTTLE]).encode()) == [THROTTLE]
    assert parse_effects(b'{"latency": 0}') == 0
    assert parse_effects(b"{}") == 0


# --- served calls ---------------------------------------------------------------------------------------
def test_a_fault_answers_a_served_call_in_its_service_error_shape(chaos: str, deployment: Deployment) -> None:
    requests.post(f"{chaos}/faults", json=[THROTTLE, {"service": "sns", "operation": "ListTopics",
                                                      "error": {"statusCode": 500, "code": "InternalError"}}],
                  timeout=10)
    dynamodb = _client(deployment, "dynamodb")
    with pytest.raises(ClientError) as throttled:  # JSON protocol: __type
        dynamodb.update_item(TableName=deployment["JobsTableName"], Key={"id": {"S": "chaos-none"}},
                             UpdateExpression="SET a = :a", ExpressionAttributeValues={":a": {"S": "b"}})
    assert throttled.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "not accessible due to an outage" in throttled.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as failed:  # query protocol: ErrorResponse
        _client(deployment, "sns").list_topics()
    assert failed.value.response["Error"]["Code"] == "InternalError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    dynamodb.get_item(TableName=deployment["JobsTableName"], Key={"id": {"S": "chaos-none"}})  # another operation


def test_a_rule_without_service_matches_every_service_and_region_and_probability_decide(
        chaos: str, deployment: Deployment) -> None:
    faults = f"{chaos}/faults"
    requests.post(faults, json=[{}], timeout=10)
    with pytest.raises(ClientError) as unavailable:  # REST-JSON: the code in x-amzn-ErrorType
        _client(deployment, "lambda").list_functions()
    assert unavailable.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert unavailable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    requests.post(faults, json=[{"region": "eu-central-1"}, {"probability": 0.0}], timeout=10)
    _client(deployment, "lambda").list_functions()  # another region; a rule that never comes up


def test_the_latency_is_added_to_served_calls(chaos: str, deployment: Deployment) -> None:
    requests.post(f"{chaos}/effects", json={"latency": 300}, timeout=10)
    began = time.monotonic()
    _client(deployment, "sns").list_topics()
    assert time.monotonic() - began >= 0.3


# --- the platform's own calls ---------------------------------------------------------------------------
def test_a_delivery_meets_the_fault_of_the_call_it_is() -> None:
    chaos = Chaos()
    delivered: list[str] = []
    destinations = Destinations(screen=chaos.check_delivery)
    for service in ("sns", "events", "lambda"):
        destinations.register(service, lambda arn, delivery: delivered.append(arn))
    topic = "arn:aws:sns:us-east-1:000000000000:errors"
    bus = "arn:aws:events:us-east-1:000000000000:event-bus/failed"
    function = "arn:aws:lambda:us-east-1:000000000000:function:handler"
    chaos.set_rules([{"service": "sns", "operation": "Publish"}, {"service": "events", "operation": "PutEvents",
                                                                  "region": "eu-west-1"},
                     {"service": "lambda"}])
    with pytest.raises(AwsError) as refused:
        destinations.send(topic, Delivery({}))
    assert (refused.value.code, refused.value.status) == ("ServiceUnavailable", 503)
    destinations.send(bus, Delivery({}))  # the rule names another region
    destinations.send(function, Delivery({}))  # queued: a fault on Invoke meets the event when it runs
    assert delivered == [bus, function]


def test_probability_is_drawn_per_call() -> None:
    chaos = Chaos(random.Random(7))
    chaos.set_rules([{"service": "sqs", "probability": 0.5}, {"service": "sqs", "error": {"code": "Second"}}])
    codes = {error.code for error in (chaos.fault("sqs", "SendMessage", "us-east-1") for _ in range(50)) if error}
    assert codes == {"ServiceUnavailable", "Second"}  # a rule that does not come up lets the next decide
    assert chaos.fault("sns", "Publish", "us-east-1") is None


def test_the_gateway_integration_call_meets_the_faults(chaos: str, deployment: Deployment) -> None:
    """API Gateway's DynamoDB integration is a call to DynamoDB like any other: a PutItem fault refuses the
    submission, and no job is written."""
    requests.post(f"{chaos}/faults", json=[{"service": "dynamodb", "operation": "PutItem"}], timeout=10)
    dynamodb = _client(deployment, "dynamodb")
    before = dynamodb.scan(TableName=deployment["JobsTableName"], Select="COUNT")["Count"]
    answer = JobsApi.for_deployment(deployment).request("POST", "jobs", json.dumps({"seconds": 1}),
                                                        headers={"Content-Type": "application/json"})
    assert answer.status >= 400, answer.text
    requests.post(f"{chaos}/faults", json=[], timeout=10)
    assert dynamodb.scan(TableName=deployment["JobsTableName"], Select="COUNT")["Count"] == before
