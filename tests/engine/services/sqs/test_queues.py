from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from jobkit.engine.core.destinations import Delivery
from jobkit.engine.services.sqs.queues import Queues


def test_a_delivery_lands_in_the_queue_its_arn_names_with_its_attributes(moto_endpoint: Callable[[str], Any]) -> None:
    # moto's process-wide store behind a bare endpoint, not mock_aws: leaving mock_aws resets every backend of the
    # process, the session engine's deployed stack included
    sqs = moto_endpoint("sqs")
    url = sqs.create_queue(QueueName=f"failures-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    account = arn.split(":")[4]
    Queues(account, "us-east-1").deliver(arn, Delivery({"job": "j1"}, attributes={
        "kind": {"DataType": "String", "StringValue": "on-failure"}}))
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(messages[0]["Body"]) == {"job": "j1"}
    assert messages[0]["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": "on-failure"}
