"""AWS::KMS::Key ("AWS::KMS::Key", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html)
and AWS::KMS::Alias (.../aws-resource-kms-alias.html: a new AliasName replaces it, a new TargetKeyId is updated
in place)."""

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


def _create(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    kms = ctx.clients("kms")
    args: dict[str, Any] = {"Description": props.get("Description", "")}
    if "KeyPolicy" in props:
        args["Policy"] = json.dumps(props["KeyPolicy"])
    key = kms.create_key(**args)["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    return DeployedResource(logical_id, "AWS::KMS::Key", key["KeyId"], props,
                            {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def _update(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    kms, key = ctx.clients("kms"), old.physical_id
    if changed(old.properties, props, ("KeySpec", "KeyUsage")):
        return None
    if props.get("Description", "") != old.properties.get("Description", ""):
        kms.update_key_description(KeyId=key, Description=props.get("Description", ""))
    if "KeyPolicy" in props and props["KeyPolicy"] != old.properties.get("KeyPolicy"):
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(props["KeyPolicy"]))
    if bool(props.get("EnableKeyRotation")) != bool(old.properties.get("EnableKeyRotation")):
        (kms.enable_key_rotation if props.get("EnableKeyRotation") else kms.disable_key_rotation)(KeyId=key)
    return DeployedResource(old.logical_id, old.type, key, props, old.attributes)


def _delete(ctx: DeployContext, resource: DeployedResource) -> None:
    days = int(resource.properties.get("PendingWindowInDays", 30))
    delete_quietly(lambda: ctx.clients("kms").schedule_key_deletion(KeyId=resource.physical_id,
                                                                     PendingWindowInDays=days))


def _create_alias(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    ctx.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return DeployedResource(logical_id, "AWS::KMS::Alias", props["AliasName"], props)


def _update_alias(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props["AliasName"] != old.properties["AliasName"]:
        return None
    if props["TargetKeyId"] != old.properties["TargetKeyId"]:
        ctx.clients("kms").update_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_alias(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("kms").delete_alias(AliasName=resource.physical_id))


RESOURCE_TYPES = (
    ResourceType("AWS::KMS::Key", _create, _update, _delete),
    ResourceType("AWS::KMS::Alias", _create_alias, _update_alias, _delete_alias),
)
