from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.backends import get_backend

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



def test_reset_purges_every_queue_and_keeps_it() -> None:
    """On moto's models of an account of its own: the session engine's queues stay as their tests left them."""
    account, region = "111122223333", "us-east-1"
    sqs = get_backend("sqs")[account][region]
    try:
        for name in ("reset-0", "reset-1"):
            sqs.create_queue(name, VisibilityTimeout="600")
            sqs.send_message(name, "visible")
            sqs.send_message(name, "delayed", delay_seconds=600)
        sqs.send_message("reset-0", "in flight")
        assert sqs.receive_message("reset-0", 10, 0, 600)  # now in flight

        cleared = Queues(account, region).reset()

        assert cleared == {"queues": 2, "messages": 5}
        for name in ("reset-0", "reset-1"):
            attributes = sqs.get_queue_attributes(name, ["All"])
            assert attributes["VisibilityTimeout"] == 600  # the queue and its settings stay
            assert [attributes[f"ApproximateNumberOfMessages{kind}"] for kind in ("", "NotVisible", "Delayed")] == \
                [0, 0, 0]
        assert sqs.get_queue("reset-0").last_purged_at is None  # PurgeQueue's once-a-minute limit not started
        sqs.send_message("reset-1", "after")
        assert [m.body for m in sqs.receive_message("reset-1", 10, 0, 30)] == ["after"]
    finally:
        sqs.reset()
