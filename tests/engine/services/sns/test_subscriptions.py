"""Subscription attributes through the engine's SNS API: checked when they are set, reported as
GetSubscriptionAttributes lists them, and a RedrivePolicy's dead-letter queue taking what cannot be delivered
("Amazon SNS dead-letter queues (DLQs)", https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.sandbox import ACCOUNT, REGION


@pytest.fixture(scope="module")
def sns(deployment: Deployment) -> Any:
    return deployment.client("sns")


@pytest.fixture(scope="module")
def sqs(deployment: Deployment) -> Any:
    return deployment.client("sqs")


@pytest.fixture
def topic(sns: Any) -> str:
    return str(sns.create_topic(Name=f"subs-{uuid.uuid4().hex[:10]}")["TopicArn"])


def _queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"subs-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _refusal(call: Any, **parameters: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call(**parameters)
    response: dict[str, Any] = dict(refused.value.response)
    return response


def test_a_filter_policy_sns_refuses_is_refused_when_it_is_set_and_no_subscription_is_made(
        sns: Any, sqs: Any, topic: str) -> None:
    _, queue_arn = _queue(sqs)
    too_many = json.dumps({k: ["x"] for k in "abcdef"})
    response = _refusal(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                        Attributes={"FilterPolicy": too_many})
    assert response["Error"]["Code"] == "InvalidParameter"
    assert response["Error"]["Message"] == ("Invalid parameter: FilterPolicy: Filter policy can not have more "
                                            "than 5 keys")
    assert response["Error"]["Type"] == "Sender" and response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    nested = _refusal(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"FilterPolicy": json.dumps({"order": {"status": ["paid"]}})})
    assert "does not support nested filter policy" in nested["Error"]["Message"]
    # the same policy in the body's scope is taken, and so is cidr (moto alone refuses it)
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
                        Attributes={"FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps(
                            {"order": {"status": ["paid"]}, "ip": [{"cidr": "10.0.0.0/8"}]})})["SubscriptionArn"]
    for value, reason in (("{not json", "failed to parse JSON"),
                          (json.dumps({"a": [{"numeric": [">", 5, "<", 1]}]}), "Bottom must be less than top")):
        response = _refusal(sns.set_subscription_attributes, SubscriptionArn=arn, AttributeName="FilterPolicy",
                            AttributeValue=value)
        assert response["Error"]["Code"] == "InvalidParameter" and reason in response["Error"]["Message"]
    # a nested policy cannot be moved to the attributes' scope
    response = _refusal(sns.set_subscription_attributes, SubscriptionArn=arn, AttributeName="FilterPolicyScope",
                        AttributeValue="MessageAttributes")
    assert "does not support nested filter policy" in response["Error"]["Message"]
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicyScope"] == "MessageBody"


@pytest.mark.parametrize(("name", "value"), [
    ("RawMessageDelivery", "maybe"), ("FilterPolicyScope", "Everything"), ("Colour", "blue"),
    ("RedrivePolicy", "{not json"), ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "arn:aws:sns:x:y:z"})),
])
def test_other_attribute_values_sns_refuses(sns: Any, sqs: Any, topic: str, name: str, value: str) -> None:
    _, queue_arn = _queue(sqs)
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    response = _refusal(sns.set_subscription_attributes, SubscriptionArn=arn, AttributeName=name,
                        AttributeValue=value)
    assert response["Error"]["Code"] == "InvalidParameter"


def test_unknown_subscriptions_and_bad_signature_versions_are_sns_errors(sns: Any, topic: str) -> None:
    missing = _refusal(sns.get_subscription_attributes, SubscriptionArn=f"{topic}:{uuid.uuid4()}")
    assert missing["Error"]["Code"] == "NotFound" and missing["ResponseMetadata"]["HTTPStatusCode"] == 404
    bad = _refusal(sns.set_topic_attributes, TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="3")
    assert bad["Error"]["Code"] == "InvalidParameter"
    bad = _refusal(sns.create_topic, Name=f"v-{uuid.uuid4().hex[:8]}", Attributes={"SignatureVersion": "0"})
    assert bad["Error"]["Code"] == "InvalidParameter"


def test_get_subscription_attributes_lists_what_the_api_reference_lists(sns: Any, sqs: Any, topic: str) -> None:
    _, queue_arn = _queue(sqs)
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
                        Attributes={"RawMessageDelivery": "true",
                                    "FilterPolicy": json.dumps({"kind": ["order"]})})["SubscriptionArn"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes == {
        "SubscriptionPrincipal": f"arn:aws:iam::{ACCOUNT}:root", "ConfirmationWasAuthenticated": "true",
        "PendingConfirmation": "false", "Owner": ACCOUNT, "Protocol": "sqs", "Endpoint": queue_arn,
        "SubscriptionArn": arn, "TopicArn": topic, "RawMessageDelivery": "true",
        "FilterPolicy": json.dumps({"kind": ["order"]}), "FilterPolicyScope": "MessageAttributes"}


def _dead_letters(sqs: Any, url: str) -> list[dict[str, Any]]:
    return wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0, MessageAttributeNames=["All"])
                    .get("Messages", []), bool, timeout=10, describe="the message in the dead-letter queue")


def test_a_message_a_missing_function_cannot_take_goes_to_the_dead_letter_queue(
        sns: Any, sqs: Any, topic: str) -> None:
    dlq_url, dlq_arn = _queue(sqs)
    gone = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deleted-{uuid.uuid4().hex[:8]}"
    arn = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=gone, ReturnSubscriptionArn=True,
                        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="undeliverable",
                             MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})["MessageId"]
    [dead] = _dead_letters(sqs, dlq_url)
    envelope = json.loads(dead["Body"])
    assert (envelope["Type"], envelope["MessageId"]) == ("Notification", message_id)
    assert envelope["Message"] == "undeliverable"
    assert envelope["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"}}
    assert envelope["UnsubscribeURL"].endswith(arn)
    assert set(dead["MessageAttributes"]) == {"ErrorCode", "ErrorMessage", "RequestID"}


def test_a_raw_delivery_to_a_deleted_queue_goes_to_the_dead_letter_queue_as_published(
        sns: Any, sqs: Any, topic: str) -> None:
    dlq_url, dlq_arn = _queue(sqs)
    doomed_url, doomed_arn = _queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=doomed_arn, Attributes={
        "RawMessageDelivery": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sqs.delete_queue(QueueUrl=doomed_url)
    sns.publish(TopicArn=topic, Message="raw and undeliverable",
                MessageAttributes={"n": {"DataType": "Number", "StringValue": "7"}})
    [dead] = _dead_letters(sqs, dlq_url)
    assert dead["Body"] == "raw and undeliverable"
    assert dead["MessageAttributes"]["n"] == {"DataType": "Number", "StringValue": "7"}
    assert dead["MessageAttributes"]["ErrorCode"]["DataType"] == "String"
