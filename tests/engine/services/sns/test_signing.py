"""Signatures as "Verifying the signatures of Amazon SNS messages" tells a subscriber to check them
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): the string to sign, the hash of
each SignatureVersion, and the certificate the engine serves at SigningCertURL."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.engine.services.sns.signing import CERTIFICATE_PATH, Signer, string_to_sign

NOTIFICATION = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                "Subject": "s", "Message": "line one\nline two", "Timestamp": "2024-05-01T12:00:03.005Z",
                "UnsubscribeURL": "https://example/unsubscribe"}


def verify(document: dict[str, Any], pem: bytes) -> None:
    """What a subscriber does: the certificate's public key, the version's hash, the string to sign."""
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    algorithm = hashes.SHA256() if document["SignatureVersion"] == "2" else hashes.SHA1()  # noqa: S303  # version 1 is SHA1withRSA
    key.verify(base64.b64decode(document["Signature"]), string_to_sign(document).encode(), padding.PKCS1v15(),
               algorithm)


def test_the_string_to_sign_lists_the_documented_fields_in_order_subject_only_when_present() -> None:
    assert string_to_sign(NOTIFICATION) == (
        "Message\nline one\nline two\nMessageId\nm-1\nSubject\ns\nTimestamp\n2024-05-01T12:00:03.005Z\n"
        "TopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n")
    without = {k: v for k, v in NOTIFICATION.items() if k != "Subject"}
    assert "Subject" not in string_to_sign(without)
    assert string_to_sign({**without, "Subject": None}) == string_to_sign(without)  # the Lambda event's null


@pytest.mark.parametrize("version", ["1", "2"])
def test_each_signature_version_verifies_with_its_hash_only(version: str) -> None:
    signer = Signer("http://127.0.0.1:1")
    document = signer.sign(dict(NOTIFICATION), version)
    assert document["SignatureVersion"] == version
    assert document["SigningCertURL"] == "http://127.0.0.1:1" + CERTIFICATE_PATH
    verify(document, signer.pem)
    with pytest.raises(InvalidSignature):
        verify({**document, "SignatureVersion": "1" if version == "2" else "2"}, signer.pem)
    with pytest.raises(InvalidSignature):
        verify({**document, "Message": "tampered"}, signer.pem)


def test_a_delivered_message_verifies_with_the_certificate_the_engine_serves(deployment: Deployment) -> None:
    sns, sqs = deployment.client("sns"), deployment.client("sqs")
    queue = sqs.create_queue(QueueName=f"signed-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    envelopes = []
    for version in ("1", "2"):
        topic = sns.create_topic(Name=f"signed-{uuid.uuid4().hex[:10]}")["TopicArn"]
        if version == "2":
            sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        sns.publish(TopicArn=topic, Message=f"signed with version {version}", Subject="a subject")
        received = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []),
                            bool, timeout=10, describe="the signed notification")
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])
        envelopes.append(json.loads(received[0]["Body"]))
    assert [e["SignatureVersion"] for e in envelopes] == ["1", "2"]
    url = envelopes[0]["SigningCertURL"]
    assert url == str(deployment.endpoint_url).rstrip("/") + CERTIFICATE_PATH
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # the engine's own http endpoint
        pem = answer.read()
    for envelope in envelopes:
        verify(envelope, pem)
