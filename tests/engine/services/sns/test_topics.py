"""SNS as the engine serves it: subscriptions made at runtime deliver like the template's, through the port's
AWS APIs (boto3), with the session engine of ``tests/conftest.py``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.services.sns.topics import SnsService
from jobkit.sandbox import ACCOUNT, REGION
from tests.engine.services.sns.test_signing import verify

ATTRIBUTES = {"kind": {"DataType": "String", "StringValue": "order"},
              "price": {"DataType": "Number", "StringValue": "12.5"},
              "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
DELIVERED = {"kind": {"Type": "String", "Value": "order"}, "price": {"Type": "Number", "Value": "12.5"},
             "blob": {"Type": "Binary", "Value": "AAE="}}


@pytest.fixture(scope="module")
def sns(deployment: Deployment) -> Any:
    return deployment.client("sns")


@pytest.fixture(scope="module")
def sqs(deployment: Deployment) -> Any:
    return deployment.client("sqs")


@pytest.fixture
def topic(sns: Any) -> str:
    return str(sns.create_topic(Name=f"runtime-{uuid.uuid4().hex[:10]}")["TopicArn"])


class Inbox:
    """A queue of the engine and what it received: each poll takes (and deletes) what is there."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.url = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.received: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                          MessageAttributeNames=["All"])
        for message in answer.get("Messages", []):
            self.received.append(message)
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def wait(self, until: Callable[[list[dict[str, Any]]], bool], describe: str) -> list[dict[str, Any]]:
        return wait_for(self.poll, until, timeout=10, describe=describe)

    def wait_for_body(self, text: str) -> list[dict[str, Any]]:
        """Until a message whose body (or, in the notification JSON, whose Message) is ``text`` has come."""
        return self.wait(lambda seen: any(text in (m["Body"], _message_of(m)) for m in seen),
                         describe=f"{text!r} in the queue")

    def messages(self) -> list[str]:
        """What each received message carries: the raw body, or the Message of the notification JSON."""
        return [_message_of(m) or m["Body"] for m in self.poll()]


def _message_of(message: dict[str, Any]) -> str | None:
    try:
        document = json.loads(message["Body"])
    except ValueError:
        return None
    return document.get("Message") if isinstance(document, dict) and document.get("Type") == "Notification" else None


@pytest.fixture
def inbox(sqs: Any) -> Inbox:
    return Inbox(sqs)


def test_a_queue_subscribed_at_runtime_gets_each_publish_once_as_the_notification_json(
        sns: Any, topic: str, inbox: Inbox) -> None:
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="hello", Subject="greeting",
                             MessageAttributes=ATTRIBUTES)["MessageId"]
    sns.publish(TopicArn=topic, Message="sentinel")
    received = inbox.wait_for_body("sentinel")
    assert inbox.messages() == ["hello", "sentinel"]  # each once: moto's own delivery does not happen too
    envelope = json.loads(received[0]["Body"])
    assert envelope == {
        "Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Subject": "greeting",
        "Message": "hello", "Timestamp": envelope["Timestamp"], "SignatureVersion": "1",
        "Signature": envelope["Signature"], "SigningCertURL": envelope["SigningCertURL"],
        "UnsubscribeURL": envelope["UnsubscribeURL"], "MessageAttributes": DELIVERED}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope["Timestamp"])
    assert envelope["UnsubscribeURL"].endswith(f"SubscriptionArn={subscription}")
    assert "MessageAttributes" not in received[0]  # the attributes travel inside the JSON, not as SQS's
    assert "Subject" not in json.loads(received[1]["Body"])  # only when one was published


def test_raw_delivery_sends_the_message_and_its_attributes_as_they_were_published(
        sns: Any, topic: str, inbox: Inbox) -> None:
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn, ReturnSubscriptionArn=True,
                                 Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message='{"raw": true}', MessageAttributes=ATTRIBUTES)
    [message] = inbox.wait_for_body('{"raw": true}')
    assert message["MessageAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "order"},
        "price": {"DataType": "Number", "StringValue": "12.5"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    # the attribute is read when a message is published: switched off, the next one is the notification JSON
    sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="RawMessageDelivery",
                                    AttributeValue="false")
    sns.publish(TopicArn=topic, Message="wrapped")
    received = inbox.wait_for_body("wrapped")
    assert json.loads(received[1]["Body"])["Message"] == "wrapped"


def test_a_filter_policy_on_attributes_lets_only_matching_messages_through(
        sns: Any, topic: str, inbox: Inbox) -> None:
    policy = {"kind": ["order"], "price": [{"numeric": [">", 10]}]}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn,
                  Attributes={"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="too cheap", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"}, "price": {"DataType": "Number", "StringValue": "5"}})
    sns.publish(TopicArn=topic, Message="no attributes")
    sns.publish(TopicArn=topic, Message="a refund", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "refund"}, "price": {"DataType": "Number", "StringValue": "50"}})
    sns.publish(TopicArn=topic, Message="matches", MessageAttributes=ATTRIBUTES)
    inbox.wait_for_body("matches")
    assert inbox.messages() == ["matches"]  # published last, delivered alone


def test_a_filter_policy_on_the_body_reads_nested_properties(sns: Any, topic: str, inbox: Inbox) -> None:
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn, Attributes={
        "FilterPolicyScope": "MessageBody", "RawMessageDelivery": "true",
        "FilterPolicy": json.dumps({"order": {"status": ["paid"], "total": [{"numeric": [">=", 100]}]}})})
    for body in ({"order": {"status": "open", "total": 500}}, {"order": {"status": "paid", "total": 5}},
                 {"status": "paid", "total": 500}, "not JSON at all"):
        sns.publish(TopicArn=topic, Message=body if isinstance(body, str) else json.dumps(body),
                    MessageAttributes={"status": {"DataType": "String", "StringValue": "paid"}})
    wanted = json.dumps({"order": {"status": "paid", "total": 100}, "note": "x"})
    sns.publish(TopicArn=topic, Message=wanted)
    inbox.wait_for_body(wanted)
    assert inbox.messages() == [wanted]


def test_unsubscribe_stops_delivery_to_that_subscription_only(sns: Any, sqs: Any, topic: str, inbox: Inbox) -> None:
    witness = Inbox(sqs)
    leaving = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=witness.arn)
    sns.publish(TopicArn=topic, Message="before")
    inbox.wait_for_body("before")
    sns.unsubscribe(SubscriptionArn=leaving)
    sns.publish(TopicArn=topic, Message="after")
    witness.wait_for_body("after")
    assert inbox.messages() == ["before"]
    assert witness.messages() == ["before", "after"]


def test_message_structure_json_sends_each_protocol_its_message(sns: Any, topic: str, inbox: Inbox) -> None:
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn)
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "for everyone", "sqs": "for queues", "lambda": "for functions"}))
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "only the default"}))
    inbox.wait_for_body("only the default")
    assert inbox.messages() == ["for queues", "only the default"]
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "no default"}))
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert "No default entry" in refused.value.response["Error"]["Message"]


def test_publish_batch_delivers_each_entry_and_lists_the_refused_ones(sns: Any, topic: str, inbox: Inbox) -> None:
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox.arn, Attributes={"RawMessageDelivery": "true"})
    answer = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "first", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
        {"Id": "bad", "Message": "refused", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
        {"Id": "two", "Message": "second"}])
    assert [s["Id"] for s in answer["Successful"]] == ["one", "two"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [
        ("bad", "ParameterValueInvalid", True)]
    received = inbox.wait_for_body("second")
    assert inbox.messages() == ["first", "second"]
    assert received[0]["MessageAttributes"] == {"n": {"DataType": "Number", "StringValue": "1"}}
    with pytest.raises(ClientError) as refused:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "same", "Message": "a"},
                                                                      {"Id": "same", "Message": "b"}])
    assert refused.value.response["Error"]["Code"] == "BatchEntryIdsNotDistinct"


def test_publish_refusals_are_sns_errors(sns: Any, topic: str) -> None:
    cases = [({"TopicArn": topic + "-missing", "Message": "x"}, "NotFound"),
             ({"TopicArn": topic, "Message": "x", "Subject": "s" * 100}, "InvalidParameter"),
             ({"TopicArn": topic, "Message": "x" * 262_145}, "InvalidParameter"),
             ({"TopicArn": topic, "Message": "x", "MessageAttributes": {
                 "n": {"DataType": "Number", "StringValue": "twelve"}}}, "ParameterValueInvalid"),
             ({"TopicArn": topic, "Message": "x", "MessageAttributes": {
                 "n": {"DataType": "Integer", "StringValue": "1"}}}, "ParameterValueInvalid")]
    for parameters, code in cases:
        with pytest.raises(ClientError) as refused:
            sns.publish(**parameters)
        assert refused.value.response["Error"]["Code"] == code, parameters


def test_the_templates_subscriptions_live_in_moto_like_runtime_ones(sns: Any, deployment: Deployment) -> None:
    function = deployment.client("lambda").get_function(FunctionName=deployment["ErrorHandler1FunctionName"])
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=deployment["ErrorHandlingTopic1Arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("lambda", function["Configuration"]["FunctionArn"])]


def test_a_function_subscribed_at_runtime_is_invoked_with_the_sns_event(
        sns: Any, topic: str, deployment: Deployment, engine: Any) -> None:
    name = deployment["ErrorHandler1FunctionName"]
    function_arn = deployment.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)
    marker = f"runtime-subscription-{uuid.uuid4().hex}"
    sns.publish(TopicArn=topic, Message=marker)
    group = engine.lambdas.function(name).log_group  # the function's LoggingConfig group
    logs = deployment.client("logs")
    # the error handler refuses a message that is not an on-failure record, quoting it in its log
    wait_for(lambda: logs.filter_log_events(logGroupName=group, filterPattern=f'"{marker}"')["events"],
             bool, timeout=20, describe="the function's log of the published message")


def test_the_lambda_event_carries_the_subject_and_message_attributes(engine: Any, sns: Any, topic: str) -> None:
    """The event a function gets (through the routing table: what the engine hands to the async invoker)."""
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:recorded"
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn,
                                 Attributes={"FilterPolicy": json.dumps({"kind": [{"prefix": "ord"}]})},
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    handed: list[tuple[str, Delivery]] = []
    routes = Destinations()
    routes.register("lambda", lambda arn, delivery: handed.append((arn, delivery)))
    service = SnsService(ACCOUNT, REGION, routes, engine.clock, engine.services["sns"].signer)
    message_id = service.publish(topic, "with attributes", "a subject", {
        "kind": {"Type": "String", "Value": "order"}, "price": {"Type": "Number", "Value": "12.5"}})
    service.publish(topic, "filtered out", attributes={"kind": {"Type": "String", "Value": "refund"}})
    assert [arn for arn, _ in handed] == [function_arn]
    [record] = handed[0][1].body["Records"]  # type: ignore[index]
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"] == subscription
    assert record["Sns"] == {
        "Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Subject": "a subject",
        "Message": "with attributes", "Timestamp": record["Sns"]["Timestamp"], "SignatureVersion": "1",
        "Signature": record["Sns"]["Signature"], "SigningCertUrl": record["Sns"]["SigningCertUrl"],
        "UnsubscribeUrl": record["Sns"]["UnsubscribeUrl"],
        "MessageAttributes": {"kind": {"Type": "String", "Value": "order"},
                              "price": {"Type": "Number", "Value": "12.5"}}}
    verify(record["Sns"], engine.services["sns"].signer.pem)  # signed like the notification JSON


def test_a_function_gets_the_lambda_message_of_message_structure_json_else_the_default(
        engine: Any, sns: Any, topic: str) -> None:
    """"Publish" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): each protocol its own key."""
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:recorded")
    handed: list[Delivery] = []
    routes = Destinations()
    routes.register("lambda", lambda arn, delivery: handed.append(delivery))
    service = SnsService(ACCOUNT, REGION, routes, engine.clock, engine.services["sns"].signer)
    service.publish(topic, json.dumps({"default": "d", "lambda": "for functions"}), structure="json")
    service.publish(topic, json.dumps({"default": "only the default", "sqs": "q"}), structure="json")
    assert [d.body["Records"][0]["Sns"]["Message"] for d in handed] == [  # type: ignore[index]
        "for functions", "only the default"]
    for refused_body, reason in (("not json", "JSON message body failed to parse"),
                                 (json.dumps({"lambda": "x"}), "No default entry in JSON message body")):
        with pytest.raises(ClientError) as refused:
            sns.publish(TopicArn=topic, MessageStructure="json", Message=refused_body)
        assert refused.value.response["Error"] == {
            "Type": "Sender", "Code": "InvalidParameter", "Message": f"Invalid parameter: Message Structure - {reason}"}


def test_publish_batch_refuses_a_batch_sns_refuses_whole(sns: Any, topic: str, deployment: Deployment) -> None:
    """"PublishBatch" (https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html), its errors."""
    unchecked = deployment.session().client("sns", endpoint_url=deployment.endpoint_url,
                                            config=Config(parameter_validation=False))
    cases = [([], "EmptyBatchRequest"),
             ([{"Id": f"e{n}", "Message": "m"} for n in range(11)], "TooManyEntriesInBatchRequest"),
             ([{"Id": "not ok!", "Message": "m"}], "InvalidBatchEntryId"),
             ([{"Id": "x" * 81, "Message": "m"}], "InvalidBatchEntryId"),
             ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}], "BatchEntryIdsNotDistinct"),
             ([{"Id": "a", "Message": "m" * 150_000}, {"Id": "b", "Message": "n" * 150_000}], "BatchRequestTooLong")]
    for entries, code in cases:
        with pytest.raises(ClientError) as refused:
            unchecked.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert refused.value.response["Error"]["Code"] == code, code
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
