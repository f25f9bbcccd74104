"""The engine's SNS endpoint: every refusal in the query protocol's error shape (``ErrorResponse`` / ``Error``
with ``Type``, ``Code``, ``Message``, and ``RequestId``; "Common Errors",
https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html), never a 500 page, and the signing certificate
served on the engine's own URL."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.engine.services.sns.signing import CERTIFICATE_PATH


@pytest.fixture(scope="module")
def sns(deployment: Deployment) -> Any:
    """A client that sends what it is given (botocore would refuse some of these calls itself)."""
    return deployment.session().client("sns", endpoint_url=deployment.endpoint_url,
                                       config=Config(parameter_validation=False, retries={"max_attempts": 0}))


CASES: list[tuple[str, Callable[[Any, str], Any], str]] = [
    ("a policy that is not JSON", lambda sns, topic: sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue="{not json"), "InvalidParameter"),
    ("a malformed ARN", lambda sns, topic: sns.delete_topic(TopicArn="garbage"), "InvalidParameter"),
    ("Publish without a target", lambda sns, topic: sns.publish(Message="x"), "InvalidParameter"),
    ("Publish to a malformed ARN", lambda sns, topic: sns.publish(TopicArn="garbage", Message="x"),
     "InvalidParameter"),
    ("PublishBatch to a malformed ARN", lambda sns, topic: sns.publish_batch(
        TopicArn="garbage", PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}]), "InvalidParameter"),
    ("an unknown protocol", lambda sns, topic: sns.subscribe(TopicArn=topic, Protocol="pigeon", Endpoint="x"),
     "InvalidParameter"),
    ("an unknown topic", lambda sns, topic: sns.get_topic_attributes(TopicArn=topic + "-gone"), "NotFound"),
]


@pytest.mark.parametrize(("what", "call", "code"), CASES, ids=[case[0] for case in CASES])
def test_refusals_are_query_protocol_errors(sns: Any, what: str, call: Callable[[Any, str], Any], code: str) -> None:
    topic = sns.create_topic(Name=f"errors-{uuid.uuid4().hex[:10]}")["TopicArn"]
    with pytest.raises(ClientError) as refused:
        call(sns, topic)
    response = refused.value.response
    assert response["Error"]["Code"] == code and response["Error"]["Type"] == "Sender"
    assert response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == (404 if code == "NotFound" else 400)
    assert response["ResponseMetadata"]["RequestId"]


def test_the_certificate_is_served_for_get_only(deployment: Deployment) -> None:
    url = str(deployment.endpoint_url).rstrip("/") + CERTIFICATE_PATH
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # the engine's own http endpoint
        assert answer.read().startswith(b"-----BEGIN CERTIFICATE-----")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=10)  # noqa: S310
    assert refused.value.code == 405
