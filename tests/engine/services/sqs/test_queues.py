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


def test_reset_purges_every_queue_and_keeps_it(moto_endpoint: Callable[[str], Any]) -> None:
    sqs = moto_endpoint("sqs")
    urls = [sqs.create_queue(QueueName=f"reset-{n}", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
            for n in range(2)]
    for url in urls:
        sqs.send_message(QueueUrl=url, MessageBody="visible")
        sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=600)
    sqs.send_message(QueueUrl=urls[0], MessageBody="in flight")
    assert sqs.receive_message(QueueUrl=urls[0], MaxNumberOfMessages=10)["Messages"]  # now in flight
    account = sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"].split(
        ":")[4]

    cleared = Queues(account, "us-east-1").reset()

    assert cleared["messages"] >= 5 and cleared["queues"] >= 2
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "600"  # the queue and its settings stay
        assert [attributes[f"ApproximateNumberOfMessages{kind}"] for kind in ("", "NotVisible", "Delayed")] == \
            ["0", "0", "0"]
    sqs.purge_queue(QueueUrl=urls[0])  # no PurgeQueueInProgress left behind
    sqs.send_message(QueueUrl=urls[1], MessageBody="after")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=urls[1])["Messages"]] == ["after"]
