from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jobkit.engine.core.destinations import Delivery
from jobkit.engine.services.sqs.queues import Queues


def test_a_delivery_lands_in_the_queue_its_arn_names_with_its_attributes(
        moto_endpoint: Callable[[str], Any]) -> None:
    """Through the engine's endpoint, not ``mock_aws``: that resets moto's backends on exit, the session engine's
    deployment with them."""
    sqs = moto_endpoint("sqs")
    url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    Queues(arn.split(":")[4], "us-east-1").deliver(arn, Delivery({"job": "j1"}, attributes={
        "kind": {"DataType": "String", "StringValue": "on-failure"}}))
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(messages[0]["Body"]) == {"job": "j1"}
    assert messages[0]["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": "on-failure"}
