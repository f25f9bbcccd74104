"""AWS::SNS::Topic and AWS::SNS::Subscription ("AWS::SNS::Subscription",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sns-subscription.html).

A subscription is made like a runtime Subscribe, with its attributes: the compute plane reads every
subscription from moto when a message is published. A new topic, protocol or endpoint replaces it; its
attributes are set in place.
"""

from __future__ import annotations

import json
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    ResourceType,
    changed,
    delete_quietly,
)

#: the properties of AWS::SNS::Subscription that are subscription attributes ("SetSubscriptionAttributes")
SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "FilterPolicyScope", "FilterPolicy", "RawMessageDelivery",
                           "RedrivePolicy", "SubscriptionRoleArn")


def _attribute_text(value: Any) -> str:
    """A subscription attribute as the SNS API takes it: JSON policies as text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _create_topic(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    name = props.get("TopicName") or ctx.name(logical_id, 256)
    attributes = {"DisplayName": props["DisplayName"]} if "DisplayName" in props else {}
    if "KmsMasterKeyId" in props:
        attributes["KmsMasterKeyId"] = props["KmsMasterKeyId"]
    arn = ctx.clients("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    return DeployedResource(logical_id, "AWS::SNS::Topic", arn, props, {"TopicArn": arn, "TopicName": name})


def _update_topic(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("TopicName", "FifoTopic")):
        return None
    sns = ctx.clients("sns")
    for name in ("DisplayName", "KmsMasterKeyId"):
        if props.get(name) != old.properties.get(name):
            sns.set_topic_attributes(TopicArn=old.physical_id, AttributeName=name, AttributeValue=props.get(name, ""))
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_topic(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("sns").delete_topic(TopicArn=resource.physical_id))


def _subscribe(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    attributes = {name: _attribute_text(props[name]) for name in SUBSCRIPTION_ATTRIBUTES if name in props}
    arn = ctx.clients("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                       Endpoint=props["Endpoint"], Attributes=attributes,
                                       ReturnSubscriptionArn=True)["SubscriptionArn"]
    return DeployedResource(logical_id, "AWS::SNS::Subscription", arn, props, {"Arn": arn})


def _update_subscription(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("TopicArn", "Protocol", "Endpoint")):
        return None
    if any(name in old.properties and name not in props for name in SUBSCRIPTION_ATTRIBUTES):
        return None  # an attribute taken away: a new subscription has none of it
    sns = ctx.clients("sns")
    for name in SUBSCRIPTION_ATTRIBUTES:
        if name in props and props[name] != old.properties.get(name):
            sns.set_subscription_attributes(SubscriptionArn=old.physical_id, AttributeName=name,
                                            AttributeValue=_attribute_text(props[name]))
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _unsubscribe(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("sns").unsubscribe(SubscriptionArn=resource.physical_id))


RESOURCE_TYPES = (
    ResourceType("AWS::SNS::Topic", _create_topic, _update_topic, _delete_topic),
    ResourceType("AWS::SNS::Subscription", _subscribe, _update_subscription, _unsubscribe),
)
