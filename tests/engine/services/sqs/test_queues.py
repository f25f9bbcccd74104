from __future__ import annotations

import json

import boto3
from moto import mock_aws

from jobkit.engine.core.destinations import Delivery
from jobkit.engine.services.sqs.queues import Queues


@mock_aws
def test_a_delivery_lands_in_the_queue_its_arn_names_with_its_attributes() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    account = arn.split(":")[4]
    Queues(account, "us-east-1").deliver(arn, Delivery({"job": "j1"}, attributes={
        "kind": {"DataType": "String", "StringValue": "on-failure"}}))
    messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(messages[0]["Body"]) == {"job": "j1"}
    assert messages[0]["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": "on-failure"}
