"""What a published message is and the shapes SNS delivers it in: the Publish parameters checked as SNS
checks them, the notification JSON (the body an SQS queue gets without raw delivery), the Lambda event, and
the SQS message attributes of raw delivery.

- Publish: "Publish" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): at most 256 KiB, a
  subject under 100 characters without line breaks or control characters, ``MessageStructure=json`` with a
  JSON object holding a string ``default`` and per-protocol strings (other values are ignored).
- Message attributes: "Amazon SNS message attributes"
  (https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html): ``String``, ``String.Array``,
  ``Number``, ``Binary``; delivered as ``{"Type", "Value"}`` (Binary base64-encoded).
- Notification JSON: "HTTP/HTTPS notification JSON format"
  (https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html); ``Subject`` appears only if one
  was published. Signed as SNS signs it, with the engine's key (``signing``).
- Lambda event: "Invoking Lambda functions with Amazon SNS notifications"
  (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html): ``Subject`` is null when absent, the
  URLs are spelled ``SigningCertUrl`` and ``UnsubscribeUrl``, and the published attributes are
  ``MessageAttributes`` as ``{"Type", "Value"}`` (an empty object when there are none).
- Raw delivery: "Amazon SNS raw message delivery"
  (https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html): the message as
  published, its attributes as SQS message attributes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from werkzeug.wrappers import Response

from jobkit.engine.core.errors import AwsError
from jobkit.engine.services.sns.signing import Signer
from jobkit.lambda_runtime.report import log_timestamp

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
MAX_MESSAGE_BYTES = 262_144
MAX_SUBJECT = 100
#: "Amazon SNS message attributes": at most 10 go to an SQS queue with raw delivery; a message with more is
#: discarded for that subscription
MAX_RAW_SQS_ATTRIBUTES = 10
ATTRIBUTE_TYPES = ("String", "Number", "Binary")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a subject holds no line breaks or control characters
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class SnsError(Exception):
    """A Publish refused as SNS refuses it: the error code of the API reference and its message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid(message: str) -> SnsError:
    return SnsError("InvalidParameter", f"Invalid parameter: {message}")


def error_response(error: SnsError) -> Response:
    """An SNS error in the query protocol's shape: ``ErrorResponse`` with ``Error`` (``Type``, ``Code``,
    ``Message``) and ``RequestId`` (the AWS query protocol,
    https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#operation-error-serialization; the codes:
    https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html), written by the engine's one error writer."""
    return AwsError(error.code, error.message, error.status).response("sns")


def answer(action: str, result: str) -> Response:
    """A query-protocol answer: ``<{action}Response>`` with its ``Result`` and ``ResponseMetadata``."""
    body = (f'<{action}Response xmlns="{XMLNS}"><{action}Result>{result}</{action}Result><ResponseMetadata>'
            f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
    return Response(body, content_type="text/xml")


def xml_entries(values: dict[str, str]) -> str:
    """A string map of the query protocol (``<entry><key/><value/></entry>``, as GetSubscriptionAttributes
    answers its ``Attributes``)."""
    return "".join(f"<entry><key>{escape(k)}</key><value>{escape(v)}</value></entry>" for k, v in values.items())


@dataclass(frozen=True)
class Notification:
    """One published message, as every subscription of its topic is offered it."""

    topic_arn: str
    message_id: str
    message: str
    subject: str | None = None
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``MessageStructure=json``: the message for each protocol, ``default`` for the others
    per_protocol: dict[str, str] | None = None
    timestamp: float = 0.0

    def message_for(self, protocol: str) -> str:
        if self.per_protocol is None:
            return self.message
        return self.per_protocol.get(protocol, self.per_protocol["default"])


def check_message(message: str | None, subject: str | None, structure: str | None) -> dict[str, str] | None:
    """Refuses what Publish refuses; returns the per-protocol messages of ``MessageStructure=json``."""
    if not message:
        raise invalid("Empty message")
    if len(message.encode()) > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    if subject is not None and (len(subject) >= MAX_SUBJECT or _CONTROL.search(subject)):
        raise invalid("Subject")
    if structure is None:
        return None
    if structure != "json":
        raise invalid("MessageStructure")
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise invalid("Message Structure - JSON message body failed to parse")
    per_protocol = {key: value for key, value in document.items() if isinstance(value, str)}
    if "default" not in per_protocol:
        raise invalid("Message Structure - No default entry in JSON message body")
    return per_protocol


def message_attribute(name: str, data_type: str | None, string_value: str | None,
                      binary_value: str | None) -> dict[str, str]:
    """One attribute of a Publish (``DataType`` and ``StringValue`` or base64 ``BinaryValue``) in the shape SNS
    delivers it, ``{"Type", "Value"}``; SnsError for what SNS refuses."""
    if not _ATTRIBUTE_NAME.match(name) or name.startswith((".", "AWS.", "Amazon.")) or name.endswith(".") \
            or ".." in name:
        raise invalid(f"MessageAttributes: the attribute name {name[:256]!r} is invalid")
    if not data_type:
        raise SnsError("ParameterValueInvalid",
                       f"The message attribute '{name}' must contain non-empty message attribute type.")
    base = data_type.split(".", 1)[0]
    if base not in ATTRIBUTE_TYPES:
        raise SnsError("ParameterValueInvalid",
                       f"The message attribute '{name}' has an invalid message attribute type, the set of "
                       "supported type prefixes is Binary, Number, and String.")
    value = binary_value if base == "Binary" else string_value
    if not value:
        raise SnsError("ParameterValueInvalid",
                       f"The message attribute '{name}' must contain non-empty message attribute value for "
                       f"message attribute type '{base}'.")
    if base == "Binary":
        try:
            value = base64.b64encode(base64.b64decode(value, validate=True)).decode()
        except (binascii.Error, ValueError):
            raise SnsError("ParameterValueInvalid",
                           f"The message attribute '{name}' has a BinaryValue that is not base64.") from None
    elif base == "Number" and number(value) is None:
        raise SnsError("ParameterValueInvalid", f"Could not cast message attribute '{name}' value to number.")
    elif data_type.endswith(".Array") and not _is_array(value):
        raise SnsError("ParameterValueInvalid",
                       f"The message attribute '{name}' of type '{data_type}' must be a JSON array.")
    return {"Type": data_type, "Value": value}


def attributes_from_form(form: dict[str, str], prefix: str = "") -> dict[str, dict[str, str]]:
    """The ``MessageAttributes.entry.N.*`` fields of a query-protocol body (after ``prefix``), checked."""
    head = f"{prefix}MessageAttributes.entry."
    entries: dict[str, dict[str, str]] = {}
    for key, value in form.items():
        if key.startswith(head):
            index, _, name = key[len(head):].partition(".")
            entries.setdefault(index, {})[name] = value
    attributes: dict[str, dict[str, str]] = {}
    for index in sorted(entries, key=lambda i: (len(i), i)):
        entry = entries[index]
        name = entry.get("Name", "")
        attributes[name] = message_attribute(name, entry.get("Value.DataType"), entry.get("Value.StringValue"),
                                             entry.get("Value.BinaryValue"))
    return attributes


def attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    """What the attributes add to the message's size (names, types and values count toward the 256 KiB)."""
    return sum(len(name.encode()) + len(a["Type"].encode()) + len(a["Value"].encode())
               for name, a in attributes.items())


def notification_json(notification: Notification, subscription_arn: str, region: str, protocol: str,
                      signer: Signer, signature_version: str = "1") -> dict[str, Any]:
    """The JSON document SNS delivers to an SQS queue (without raw delivery) or an HTTP/S endpoint."""
    document: dict[str, Any] = {"Type": "Notification", "MessageId": notification.message_id,
                                "TopicArn": notification.topic_arn}
    if notification.subject:
        document["Subject"] = notification.subject
    document.update({
        "Message": notification.message_for(protocol),
        "Timestamp": log_timestamp(notification.timestamp),
        "SignatureVersion": signature_version,
        "Signature": "",
        "SigningCertURL": "",
        "UnsubscribeURL": _unsubscribe_url(region, subscription_arn),
    })
    if notification.attributes:
        document["MessageAttributes"] = notification.attributes
    return signer.sign(document, signature_version)


def lambda_event(notification: Notification, subscription_arn: str, region: str, signer: Signer,
                 signature_version: str = "1") -> dict[str, Any]:
    """The event SNS invokes a subscribed function with (asynchronously): one record, signed like the
    notification JSON."""
    event: dict[str, Any] = {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": notification.message_id,
            "TopicArn": notification.topic_arn,
            "Subject": notification.subject or None,
            "Message": notification.message_for("lambda"),
            "Timestamp": log_timestamp(notification.timestamp),
            "SignatureVersion": signature_version,
            "Signature": "",
            "SigningCertUrl": "",
            "UnsubscribeUrl": _unsubscribe_url(region, subscription_arn),
            "MessageAttributes": dict(notification.attributes),
        },
    }]}
    signer.sign(event["Records"][0]["Sns"], signature_version)
    return event


def sqs_attributes(attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Raw delivery's SQS message attributes ("Amazon SQS message attributes": ``DataType`` with
    ``StringValue``, or ``BinaryValue`` as bytes)."""
    converted: dict[str, dict[str, Any]] = {}
    for name, attribute in attributes.items():
        if attribute["Type"].startswith("Binary"):
            converted[name] = {"DataType": attribute["Type"], "BinaryValue": base64.b64decode(attribute["Value"])}
        else:
            converted[name] = {"DataType": attribute["Type"], "StringValue": attribute["Value"]}
    return converted


def _unsubscribe_url(region: str, subscription_arn: str) -> str:
    return f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"


def number(text: str) -> int | float | None:
    """A Number attribute's value as a number (None if it is not one): integers stay exact."""
    if not _NUMBER.match(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


def _is_array(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except (ValueError, RecursionError):
        return False
