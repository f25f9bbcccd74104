"""AWS::Logs::LogGroup and AWS::Logs::ResourcePolicy ("AWS::Logs::LogGroup",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-loggroup.html)."""

from __future__ import annotations

from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    ResourceType,
    delete_quietly,
)


def _create_group(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    logs = ctx.clients("logs")
    name = props.get("LogGroupName") or ctx.name(logical_id, 512)
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    return DeployedResource(logical_id, "AWS::Logs::LogGroup", name, props,
                            {"Arn": ctx.arn("logs", f"log-group:{name}:*")})


def _update_group(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props.get("LogGroupName") != old.properties.get("LogGroupName"):
        return None
    logs, name = ctx.clients("logs"), old.physical_id
    if props.get("RetentionInDays") != old.properties.get("RetentionInDays"):
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        else:
            logs.delete_retention_policy(logGroupName=name)
    return DeployedResource(old.logical_id, old.type, name, props, old.attributes)


def _delete_group(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("logs").delete_log_group(logGroupName=resource.physical_id))


def _put_policy(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    ctx.clients("logs").put_resource_policy(policyName=props["PolicyName"], policyDocument=props["PolicyDocument"])
    return DeployedResource(logical_id, "AWS::Logs::ResourcePolicy", props["PolicyName"], props)


def _update_policy(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    return _put_policy(ctx, old.logical_id, props) if props["PolicyName"] == old.physical_id else None


def _delete_policy(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("logs").delete_resource_policy(policyName=resource.physical_id))


RESOURCE_TYPES = (
    ResourceType("AWS::Logs::LogGroup", _create_group, _update_group, _delete_group),
    ResourceType("AWS::Logs::ResourcePolicy", _put_policy, _update_policy, _delete_policy),
)
