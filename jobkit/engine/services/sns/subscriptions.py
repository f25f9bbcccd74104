"""Subscription attributes as SNS checks and reports them; moto keeps the subscriptions.

- Subscribe and SetSubscriptionAttributes ("Subscribe", https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html;
  "SetSubscriptionAttributes", https://docs.aws.amazon.com/sns/latest/api/API_SetSubscriptionAttributes.html)
  take ``DeliveryPolicy``, ``FilterPolicy``, ``FilterPolicyScope`` (``MessageAttributes`` or ``MessageBody``),
  ``RawMessageDelivery``, ``RedrivePolicy`` (``deadLetterTargetArn``: an SQS queue's ARN) and
  ``SubscriptionRoleArn``; a value SNS refuses is refused with InvalidParameter when it is set, a filter policy
  by ``filter_policy.validate``. The engine writes the checked attributes into moto's subscription itself:
  moto's own filter-policy checker refuses what SNS takes (``cidr``) and fails with a 500 on text that is not
  JSON, and the engine applies filter policies itself (``topics``).
- GetSubscriptionAttributes ("GetSubscriptionAttributes",
  https://docs.aws.amazon.com/sns/latest/api/API_GetSubscriptionAttributes.html) lists, besides the attributes
  set, ``ConfirmationWasAuthenticated``, ``Owner``, ``PendingConfirmation``, ``Protocol``, ``Endpoint``,
  ``SubscriptionArn``, ``TopicArn`` and ``SubscriptionPrincipal`` (the principal that subscribed: the sandbox has
  one caller, the account's root), every value a string.
"""

from __future__ import annotations

import json
from typing import Any

from moto.backends import get_backend
from moto.core.exceptions import ServiceException
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.server import AwsCall
from jobkit.engine.services.sns import filter_policy
from jobkit.engine.services.sns.messages import SnsError, answer, error_response, invalid, xml_entries
from jobkit.engine.services.sns.signing import VERSIONS as SIGNATURE_VERSIONS

#: what Subscribe and SetSubscriptionAttributes take
SETTABLE = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
            "SubscriptionRoleArn")
SCOPES = (filter_policy.MESSAGE_ATTRIBUTES, filter_policy.MESSAGE_BODY)
#: Subscribe's ``Protocol`` values ("Subscribe")
PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")


def dead_letter_target(redrive_policy: Any) -> str | None:
    """The SQS queue ARN of a subscription's ``RedrivePolicy`` ("Configuring an Amazon SNS dead-letter queue
    for a subscription", https://docs.aws.amazon.com/sns/latest/dg/sns-configure-dead-letter-queue.html), None
    if it has none."""
    if not redrive_policy:
        return None
    try:
        document = json.loads(redrive_policy) if isinstance(redrive_policy, str) else redrive_policy
    except ValueError:
        return None
    target = document.get("deadLetterTargetArn") if isinstance(document, dict) else None
    return target if isinstance(target, str) and target else None


def check_attribute(name: str, value: str, scope: str | None) -> str | bool:
    """One attribute as SNS takes it (RawMessageDelivery as a boolean, as moto keeps it); SnsError otherwise.
    ``scope`` is the subscription's filter policy scope once this attribute is set."""
    if name not in SETTABLE:
        raise invalid("AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid("Attributes Reason: RawMessageDelivery: Invalid value [" + value[:64] + "]. Must be true "
                          "or false.")
        return value.lower() == "true"
    if name == "FilterPolicyScope" and value not in SCOPES:
        raise invalid(f"Attributes Reason: FilterPolicyScope: Invalid value [{value[:64]}]. Please use either "
                      "MessageBody or MessageAttributes")
    if name == "FilterPolicy":
        filter_policy.validate(value, scope)
    if name == "RedrivePolicy" and value:
        try:
            document = json.loads(value)
        except ValueError:
            raise invalid("RedrivePolicy: failed to parse JSON.") from None
        target = document.get("deadLetterTargetArn") if isinstance(document, dict) else None
        parts = target.split(":") if isinstance(target, str) else []
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
            raise invalid("RedrivePolicy: deadLetterTargetArn is an invalid arn")
    if name == "DeliveryPolicy" and value:
        try:
            json.loads(value)
        except ValueError:
            raise invalid("DeliveryPolicy: failed to parse JSON.") from None
    return value


def check_attributes(attributes: dict[str, str], current: dict[str, Any] | None = None) -> dict[str, str | bool]:
    """Several attributes set at once (Subscribe's, or one of SetSubscriptionAttributes on a subscription whose
    attributes are ``current``): the filter policy is judged in the scope it will have."""
    current = current or {}
    scope = attributes.get("FilterPolicyScope", current.get("FilterPolicyScope"))
    checked = {name: check_attribute(name, value, scope) for name, value in attributes.items()}
    if "FilterPolicyScope" in attributes and "FilterPolicy" not in attributes and current.get("FilterPolicy"):
        filter_policy.validate(str(current["FilterPolicy"]), scope)  # the policy it has, in its new scope
    return checked


class SubscriptionsApi:
    """Subscribe, SetSubscriptionAttributes and GetSubscriptionAttributes over moto's subscriptions."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def intercepts(self) -> dict[str, Any]:
        return {"Subscribe": self.subscribe, "SetSubscriptionAttributes": self.set_attributes,
                "GetSubscriptionAttributes": self.get_attributes, "SetTopicAttributes": self.set_topic_attributes,
                "CreateTopic": self.create_topic}

    def subscribe(self, request: Request, call: AwsCall) -> Response:
        form = call.form()
        attributes = _map(form, "Attributes")
        try:
            topic_arn, protocol = form.get("TopicArn", ""), form.get("Protocol", "")
            if protocol not in PROTOCOLS:
                raise invalid(f"Amazon SNS does not support this protocol string: {protocol[:64]}")
            checked = check_attributes(attributes)
            backend = self._backend(call)
            if topic_arn not in backend.topics:
                raise SnsError("NotFound", "Topic does not exist", 404)
            subscription = backend.subscribe(topic_arn, form.get("Endpoint", ""), protocol)
            subscription.attributes.setdefault("SubscriptionPrincipal", f"arn:aws:iam::{self.account}:root")
            _apply(subscription, checked)
        except SnsError as exc:
            return error_response(exc)
        except ServiceException as exc:  # moto's own refusals (an SMS endpoint, a FIFO queue on a standard topic)
            return error_response(_moto_error(exc))
        return answer("Subscribe", f"<SubscriptionArn>{subscription.arn}</SubscriptionArn>")

    def set_attributes(self, request: Request, call: AwsCall) -> Response:
        form = call.form()
        try:
            subscription = self._subscription(call, form.get("SubscriptionArn", ""))
            name = form.get("AttributeName", "")
            checked = check_attributes({name: form.get("AttributeValue", "")}, subscription.attributes)
            _apply(subscription, checked)
        except SnsError as exc:
            return error_response(exc)
        return answer("SetSubscriptionAttributes", "")

    def get_attributes(self, request: Request, call: AwsCall) -> Response:
        form = call.form()
        try:
            subscription = self._subscription(call, form.get("SubscriptionArn", ""))
        except SnsError as exc:
            return error_response(exc)
        attributes = {"SubscriptionPrincipal": f"arn:aws:iam::{self.account}:root",
                      **self._backend(call).get_subscription_attributes(subscription.arn)}
        return answer("GetSubscriptionAttributes",
                      f"<Attributes>{xml_entries({k: _text(v) for k, v in attributes.items()})}</Attributes>")

    def set_topic_attributes(self, request: Request, call: AwsCall) -> Response | None:
        """Only the topic's ``SignatureVersion`` is checked here ("1" or "2", "SetTopicAttributes"); moto keeps
        it and every other attribute."""
        form = call.form()
        if form.get("AttributeName") == "SignatureVersion" and form.get("AttributeValue") not in SIGNATURE_VERSIONS:
            return error_response(invalid("SignatureVersion"))
        return None

    def create_topic(self, request: Request, call: AwsCall) -> Response | None:
        """CreateTopic's ``SignatureVersion`` attribute, checked as SetTopicAttributes checks it."""
        version = _map(call.form(), "Attributes").get("SignatureVersion")
        if version is not None and version not in SIGNATURE_VERSIONS:
            return error_response(invalid("SignatureVersion"))
        return None

    # --- moto's store -------------------------------------------------------------------------------------
    def _backend(self, call: AwsCall) -> Any:
        return get_backend("sns")[self.account][call.region or self.region]

    def _subscription(self, call: AwsCall, arn: str) -> Any:
        subscription = self._backend(call).subscriptions.get(arn)
        if subscription is None:
            raise SnsError("NotFound", "Subscription does not exist", 404)
        return subscription


def _apply(subscription: Any, checked: dict[str, str | bool]) -> None:
    """Writes checked attributes into moto's subscription; an empty filter policy removes the policy."""
    for name, value in checked.items():
        if name == "FilterPolicy" and value == "":
            subscription.attributes.pop("FilterPolicy", None)
        else:
            subscription.attributes[name] = value
    # moto's own matcher stays unset: the engine filters every protocol before moto delivers any
    subscription._filter_policy = None
    subscription._filter_policy_matcher = None


def _map(form: dict[str, str], name: str) -> dict[str, str]:
    """A query-protocol string map (``{name}.entry.N.key`` / ``.value``)."""
    keys: dict[str, str] = {}
    values: dict[str, str] = {}
    head = f"{name}.entry."
    for field, value in form.items():
        if field.startswith(head):
            index, _, part = field[len(head):].partition(".")
            (keys if part == "key" else values)[index] = value
    return {keys[i]: values.get(i, "") for i in keys}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _moto_error(exc: ServiceException) -> SnsError:
    """moto's refusal (its code and message are SNS's) as an SnsError; NotFound is SNS's 404."""
    return SnsError(exc.code, exc.message, 404 if exc.code == "NotFound" else 400)
