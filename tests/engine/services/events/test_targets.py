"""What a rule's target receives (Input, InputPath, InputTransformer) and which targets PutTargets refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobkit.engine.core.destinations import Destinations
from jobkit.engine.services.events.targets import InvalidTargetError, check, payload

RULE_ARN = "arn:aws:events:us-east-1:000000000000:rule/bus/r"
EVENT: dict[str, Any] = {
    "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change",
    "source": "aws.ec2", "account": "000000000000", "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:000000000000:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "tags": {"team": "a"}, "count": 3},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state", "tags": "$.detail.tags",
         "count": "$.detail.count", "absent": "$.detail.nothing"}


def shaped(template: str, paths: dict[str, str] = PATHS) -> Any:
    return payload({"InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}, EVENT, RULE_ARN, "r")


def test_without_input_the_target_receives_the_event_itself() -> None:
    assert payload({"Arn": "x"}, EVENT, RULE_ARN, "r") is EVENT


def test_input_is_sent_as_given() -> None:
    assert payload({"Input": '{"constant": [1, 2]}'}, EVENT, RULE_ARN, "r") == '{"constant": [1, 2]}'


@pytest.mark.parametrize(("path", "expected"), [
    ("$", EVENT), ("$.detail", EVENT["detail"]), ("$.detail.state", '"RUNNING"'), ("$.detail.count", "3"),
    ("$.resources[0]", json.dumps(EVENT["resources"][0])), ("$.detail.nothing", "null"),
])
def test_input_path_sends_the_value_it_names_as_json(path: str, expected: Any) -> None:
    assert payload({"InputPath": path}, EVENT, RULE_ARN, "r") == expected


def test_a_string_template_keeps_its_quotes_and_places_values_unescaped() -> None:
    assert shaped('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'
    assert shaped('"instance \\"<instance>\\" is in <state>"') == '"instance \\"i-0123456789\\" is in RUNNING"'


def test_a_json_template_quotes_string_variables_and_places_objects_as_json() -> None:
    out = shaped('{"instance" : <instance>, "state": [9, <state>, true], "tags": <tags>, "n": <count>}')
    assert out == '{"instance":"i-0123456789","state":[9,"RUNNING",true],"tags":{"team":"a"},"n":3}'  # minified


def test_inside_a_json_string_an_object_loses_its_quotes() -> None:
    assert json.loads(shaped('{"text": "tags are <tags>, <count> of them"}')) == {
        "text": "tags are {team:a}, 3 of them"}


def test_a_variable_the_event_lacks_is_empty() -> None:
    assert json.loads(shaped('{"a": <absent>, "b": "[<absent>]"}')) == {"a": "", "b": "[]"}


def test_predefined_variables() -> None:
    out = json.loads(shaped('{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>", '
                            '"at": <aws.events.event.ingestion-time>, "event": <aws.events.event>, '
                            '"json": <aws.events.event.json>}', {}))
    assert out["arn"] == RULE_ARN and out["name"] == "r" and out["at"] == EVENT["time"]
    assert out["json"] == EVENT
    assert "detail" not in out["event"] and out["event"]["detailType"] == EVENT["detail-type"]


@pytest.mark.parametrize(("target", "says"), [
    ({"Id": "k", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}, "kinesis"),
    ({"Id": "e", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/c"}, "ecs"),
    ({"Id": "f", "Arn": "arn:aws:sqs:us-east-1:000000000000:q.fifo"}, "FIFO"),
    ({"Id": "a", "Arn": "arn:aws:events:us-east-1:000000000000:api-destination/d/1"}, "API destinations"),
    ({"Id": "two", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "Input": "{}", "InputPath": "$"},
     "Only one of Input, InputPath, or InputTransformer"),
    ({"Id": "p", "Arn": "arn:aws:sqs:us-east-1:000000000000:q",
      "InputTransformer": {"InputTemplate": '"<undefined>"'}}, "invalid placeholder undefined"),
])
def test_put_targets_refuses_what_would_not_be_delivered(target: dict[str, Any], says: str) -> None:
    destinations = Destinations()
    for service in ("lambda", "sqs", "sns", "logs", "events"):
        destinations.register(service, lambda arn, delivery: None)
    with pytest.raises(InvalidTargetError, match=says) as refused:
        check(target, destinations)
    assert target["Id"] in str(refused.value)
    check({"Id": "ok", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "InputPath": "$.detail"}, destinations)
