"""SNS in the engine: moto keeps topics and subscriptions (Subscribe, Unsubscribe, their attributes: the
control plane, at runtime or from the template alike); the compute plane publishes. Each Publish reads the
topic's subscriptions from moto as they are at that moment, applies each one's filter policy
(``filter_policy``), and delivers to ``sqs`` and ``lambda`` endpoints through the engine's routing table
(``Destinations``): an SQS queue gets the notification JSON, or with ``RawMessageDelivery`` the message and
its attributes as they were published; a function is invoked asynchronously with the SNS event, so its event
invoke config (retries, destinations) applies ("Invoking Lambda functions with Amazon SNS notifications",
https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html). Shapes: ``messages``.

Exactly one delivery per subscription: moto's own ``Topic.publish`` would also send to SQS queues (and hand
Lambda endpoints to moto's Lambda, which runs them in Docker), so the engine never calls it for a standard
topic; it hands moto only the protocols it does not deliver itself (HTTP/S, email, ...), one subscription at
a time. FIFO topics, SMS and mobile endpoints stay moto's, whole.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.core.server import AwsCall
from jobkit.engine.core.service import moto_backends
from jobkit.engine.services.sns import filter_policy
from jobkit.engine.services.sns.messages import (
    MAX_MESSAGE_BYTES,
    MAX_RAW_SQS_ATTRIBUTES,
    Notification,
    SnsError,
    answer,
    attributes_from_form,
    attributes_size,
    check_message,
    error_response,
    invalid,
    lambda_event,
    message_attribute,
    notification_json,
    sqs_attributes,
)
from jobkit.engine.services.sns.signing import VERSIONS as SIGNATURE_VERSIONS
from jobkit.engine.services.sns.signing import Signer
from jobkit.engine.services.sns.subscriptions import dead_letter_target

LOG = logging.getLogger(__name__)
#: the protocols whose deliveries the engine makes; moto makes the others
ENGINE_PROTOCOLS = ("sqs", "lambda")
#: "PublishBatch" (https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html): at most 10 entries
MAX_BATCH = 10


class SnsService:
    """Publishes to topics; delivers to their SQS and Lambda subscriptions."""

    def __init__(self, account: str, region: str, destinations: Destinations, clock: SandboxClock, signer: Signer,
                 on_publish: Callable[[str, str, str], None] | None = None,
                 on_message: Callable[[str, str, str], None] | None = None) -> None:
        self.account = account
        self.region = region
        self.destinations = destinations
        self.clock = clock
        self.signer = signer
        self.on_publish = on_publish  # (topic arn, subscription's function arn, message) for the hop log
        self.on_message = on_message  # (topic arn, message id, message) for the job's trace

    # --- publishing ---------------------------------------------------------------------------------------
    def publish(self, topic_arn: str, message: str, subject: str | None = None,
                attributes: dict[str, dict[str, str]] | None = None, structure: str | None = None) -> str:
        """Publishes to a topic, as the Publish action does; returns the message id. SnsError if SNS would
        refuse it (the topic unknown, the message too long, ...)."""
        topic = self._topic(topic_arn)
        attributes = attributes or {}
        if _is_fifo(topic):
            return str(self._backend(topic_arn).publish(message, arn=topic_arn, subject=subject,
                                                        message_attributes=attributes, message_structure=structure))
        per_protocol = check_message(message, subject, structure)
        if len(message.encode()) + attributes_size(attributes) > MAX_MESSAGE_BYTES:
            raise invalid("Message too long")
        notification = Notification(topic_arn, str(uuid.uuid4()), message, subject or None, attributes,
                                    per_protocol, time.time())
        # moto's record of what was published, which moto's own users read (``sent_notifications``)
        topic.sent_notifications.append((notification.message_id, message, subject, attributes, None))
        if self.on_message is not None:
            self.on_message(topic_arn, notification.message_id, message)
        for subscription in self.subscriptions(topic_arn):
            self._offer(subscription, notification, structure)
        return notification.message_id

    def deliver(self, topic_arn: str, delivery: Delivery) -> str:
        """A record handed on to a topic (an on-failure or asynchronous destination, a rule's target): published
        as its JSON, or as is if it is text; its attributes in the shape Publish takes them."""
        body = delivery.body if isinstance(delivery.body, str) else json.dumps(delivery.body)
        attributes = {name: message_attribute(name, value.get("DataType"), value.get("StringValue"),
                                              _base64(value.get("BinaryValue")))
                      for name, value in delivery.attributes.items()}
        return self.publish(topic_arn, body, attributes=attributes)

    def subscriptions(self, topic_arn: str) -> list[Any]:
        """The topic's subscriptions in moto now: the template's and those made at runtime alike."""
        backend = self._backend(topic_arn)
        return [s for s in tuple(backend.subscriptions.values()) if s.topic.arn == topic_arn]

    def _offer(self, subscription: Any, notification: Notification, structure: str | None) -> None:
        """One subscription's delivery, if its filter policy takes the message. A delivery that fails goes to the
        subscription's dead-letter queue if it has one, and is logged otherwise; either way it leaves the other
        subscriptions (and the Publish) untouched, as in SNS ("Amazon SNS dead-letter queues (DLQs)",
        https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html)."""
        protocol = subscription.protocol
        attributes = subscription.attributes
        if not filter_policy.accepts(attributes.get("FilterPolicy") or None, attributes.get("FilterPolicyScope"),
                                     notification.attributes, notification.message_for(protocol)):
            return
        try:
            if protocol not in ENGINE_PROTOCOLS:
                subscription.publish(notification.message, notification.message_id, subject=notification.subject,
                                     message_attributes=notification.attributes or None,
                                     message_structure=structure)
            elif protocol == "lambda":
                self._to_lambda(subscription, notification)
            else:
                self._to_sqs(subscription, notification)
        except Exception as exc:  # one endpoint's failure is its own
            if not self._dead_letter(subscription, notification, exc):
                LOG.warning("SNS could not deliver %s to %s (%s): %s", notification.message_id,
                            subscription.endpoint, protocol, exc)

    def _dead_letter(self, subscription: Any, notification: Notification, error: Exception) -> bool:
        """Sends a message its subscription could not take to the queue of its ``RedrivePolicy``
        (``deadLetterTargetArn``): the message as an SQS subscription would get it (the notification JSON, or the
        message and its attributes with raw delivery). The DLQ page documents no attributes of its own; the
        engine adds ``ErrorCode`` and ``ErrorMessage`` (as LocalStack does, with ``RequestID``) so a test can read
        why. False if the subscription has no dead-letter queue or it cannot be reached."""
        target = dead_letter_target(subscription.attributes.get("RedrivePolicy"))
        if target is None:
            return False
        reason = {"ErrorCode": {"DataType": "String", "StringValue": type(error).__name__},
                  "ErrorMessage": {"DataType": "String", "StringValue": str(error)[:1024] or type(error).__name__},
                  "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())}}
        try:
            if _is_true(subscription.attributes.get("RawMessageDelivery")):
                delivery = Delivery(notification.message_for("sqs"),
                                    attributes={**sqs_attributes(notification.attributes), **reason})
            else:
                delivery = Delivery(self._notification_json(subscription, notification, "sqs"), attributes=reason)
            self.destinations.send(target, delivery)
        except Exception as exc:
            LOG.warning("SNS could not deliver %s to %s nor to its dead-letter queue %s: %s / %s",
                        notification.message_id, subscription.endpoint, target, error, exc)
        return True

    def _signature_version(self, topic_arn: str) -> str:
        """The topic's ``SignatureVersion`` attribute ("1" unless set to "2")."""
        topic = self._backend(topic_arn).topics.get(topic_arn)
        version = str(getattr(topic, "signature_version", "1") or "1")
        return version if version in SIGNATURE_VERSIONS else "1"

    def _notification_json(self, subscription: Any, notification: Notification, protocol: str) -> dict[str, Any]:
        return notification_json(notification, subscription.arn, self._region_of(notification.topic_arn), protocol,
                                 self.signer, self._signature_version(notification.topic_arn))

    def _to_lambda(self, subscription: Any, notification: Notification) -> None:
        event = lambda_event(notification, subscription.arn, self._region_of(notification.topic_arn), self.signer,
                             self._signature_version(notification.topic_arn))
        if self.on_publish is not None:
            self.on_publish(notification.topic_arn, subscription.endpoint, notification.message_for("lambda"))
        self.destinations.send(subscription.endpoint, Delivery(event))

    def _to_sqs(self, subscription: Any, notification: Notification) -> None:
        if _is_true(subscription.attributes.get("RawMessageDelivery")):
            if len(notification.attributes) > MAX_RAW_SQS_ATTRIBUTES:
                raise ValueError(f"raw delivery to SQS carries at most {MAX_RAW_SQS_ATTRIBUTES} message "
                                 "attributes; the message is discarded for this subscription")
            self.destinations.send(subscription.endpoint, Delivery(notification.message_for("sqs"),
                                                                   attributes=sqs_attributes(notification.attributes)))
            return
        self.destinations.send(subscription.endpoint, Delivery(self._notification_json(subscription, notification,
                                                                                       "sqs")))

    # --- the HTTP actions ---------------------------------------------------------------------------------
    def intercept_publish(self, request: Request, call: AwsCall) -> Response | None:
        """Publish (query protocol) to a topic; to a phone number or a mobile endpoint it stays moto's."""
        form = _form(call)
        if form is None:
            return error_response(invalid("the request body is not UTF-8 form data"))
        target = form.get("TopicArn") or form.get("TargetArn", "")
        if "PhoneNumber" not in form and not target:
            return error_response(invalid("TopicArn or TargetArn Reason: no value for required parameter"))
        if "PhoneNumber" not in form and (len(target.split(":")) < 6 or not target.startswith("arn:")):
            return error_response(invalid("TopicArn" if "TopicArn" in form else "TargetArn"))
        if "PhoneNumber" in form or not self._is_topic(target) or self._is_fifo_topic(target):
            return None
        try:
            attributes = attributes_from_form(form)
            message_id = self.publish(target, form.get("Message", ""), form.get("Subject"), attributes,
                                      form.get("MessageStructure"))
        except SnsError as exc:
            return error_response(exc)
        return answer("Publish", f"<MessageId>{escape(message_id)}</MessageId>")

    def intercept_publish_batch(self, request: Request, call: AwsCall) -> Response | None:
        """PublishBatch: each entry published as Publish would; an entry SNS refuses is listed as failed."""
        form = _form(call)
        if form is None:
            return error_response(invalid("the request body is not UTF-8 form data"))
        topic_arn = form.get("TopicArn", "")
        if len(topic_arn.split(":")) < 6 or not topic_arn.startswith("arn:"):
            return error_response(invalid("TopicArn"))
        if not self._is_topic(topic_arn) or self._is_fifo_topic(topic_arn):
            return None
        try:
            self._topic(topic_arn)
            entries = _batch_entries(form)
        except SnsError as exc:
            return error_response(exc)
        successful, failed = [], []
        for entry in entries:
            entry_id = entry.get("Id", "")
            try:
                attributes = attributes_from_form(entry)
                message_id = self.publish(topic_arn, entry.get("Message", ""), entry.get("Subject"), attributes,
                                          entry.get("MessageStructure"))
                successful.append(f"<member><Id>{escape(entry_id)}</Id><MessageId>{escape(message_id)}</MessageId>"
                                  "</member>")
            except SnsError as exc:
                failed.append(f"<member><Id>{escape(entry_id)}</Id><Code>{escape(exc.code)}</Code><Message>"
                              f"{escape(exc.message)}</Message><SenderFault>true</SenderFault></member>")
        return answer("PublishBatch", f"<Successful>{''.join(successful)}</Successful>"
                                       f"<Failed>{''.join(failed)}</Failed>")

    def reset(self) -> dict[str, int]:
        """A sandbox reset: moto's record of what each topic published goes; topics and subscriptions stay."""
        published = 0
        for backend in moto_backends("sns", self.account):
            for topic in list(backend.topics.values()):
                published += len(topic.sent_notifications)
                topic.sent_notifications.clear()
        return {"publishedMessages": published}

    # --- moto's store -------------------------------------------------------------------------------------
    def _backend(self, arn: str) -> Any:
        region, account = self._region_of(arn), self._account_of(arn)
        return get_backend("sns")[account][region]

    def _topic(self, topic_arn: str) -> Any:
        topic = self._backend(topic_arn).topics.get(topic_arn) if self._is_topic(topic_arn) else None
        if topic is None:
            raise SnsError("NotFound", "Topic does not exist", 404)
        return topic

    def _is_fifo_topic(self, arn: str) -> bool:
        topic = self._backend(arn).topics.get(arn)
        return topic is not None and _is_fifo(topic)

    def _region_of(self, arn: str) -> str:
        parts = arn.split(":")
        return parts[3] if len(parts) > 5 and parts[3] else self.region

    def _account_of(self, arn: str) -> str:
        parts = arn.split(":")
        return parts[4] if len(parts) > 5 and parts[4] else self.account

    @staticmethod
    def _is_topic(arn: str) -> bool:
        """A topic ARN (``arn:aws:sns:region:account:name``), not a mobile endpoint's (``...:endpoint/...``)."""
        parts = arn.split(":")
        return len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns" and "/" not in parts[5]


def _form(call: AwsCall) -> dict[str, str] | None:
    try:
        return call.form()
    except UnicodeDecodeError:
        return None


def _batch_entries(form: dict[str, str]) -> list[dict[str, str]]:
    """The ``PublishBatchRequestEntries.member.N.*`` fields, one dict per entry in order; SnsError for a batch
    SNS refuses whole (empty, more than 10 entries, ids repeated or not as SNS spells them)."""
    head = "PublishBatchRequestEntries.member."
    members: dict[str, dict[str, str]] = {}
    for key, value in form.items():
        if key.startswith(head):
            index, _, name = key[len(head):].partition(".")
            members.setdefault(index, {})[name] = value
    entries = [members[index] for index in sorted(members, key=lambda i: (len(i), i))]
    if not entries:
        raise SnsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > MAX_BATCH:
        raise SnsError("TooManyEntriesInBatchRequest",
                       f"The batch request contains more entries than permissible ({MAX_BATCH}).")
    ids = [entry.get("Id", "") for entry in entries]
    if any(not entry_id or len(entry_id) > 80 or not all(c.isalnum() or c in "-_" for c in entry_id)
           for entry_id in ids):
        raise SnsError("InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the "
                                              "specification (up to 80 letters, digits, hyphens, underscores).")
    if len(set(ids)) != len(ids):
        raise SnsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    if sum(len(entry.get("Message", "").encode()) for entry in entries) > MAX_MESSAGE_BYTES:
        raise SnsError("BatchRequestTooLong", "The length of all the messages put together is more than the limit.")
    return entries


def _base64(value: bytes | str | None) -> str | None:
    """A BinaryValue as Publish's query form carries it (base64)."""
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _is_fifo(topic: Any) -> bool:
    return _is_true(getattr(topic, "fifo_topic", False))


def _is_true(value: Any) -> bool:
    """moto keeps ``RawMessageDelivery`` as a boolean; a string is read as SNS reads it."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
