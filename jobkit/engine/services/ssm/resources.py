"""AWS::SSM::Parameter ("AWS::SSM::Parameter", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ssm-parameter.html):
a new Name replaces it; any other change overwrites the value."""

from __future__ import annotations

import secrets
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    ResourceType,
    delete_quietly,
)


def _put(ctx: DeployContext, logical_id: str, name: str, props: dict[str, Any]) -> DeployedResource:
    kind = props.get("Type", "String")
    args: dict[str, Any] = {"Name": name, "Value": props["Value"], "Type": kind, "Overwrite": True}
    if props.get("Description"):
        args["Description"] = props["Description"]
    ctx.clients("ssm").put_parameter(**args)
    return DeployedResource(logical_id, "AWS::SSM::Parameter", name, props, {"Type": kind, "Value": props["Value"]})


def _create(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    return _put(ctx, logical_id, props.get("Name") or f"CFN-{logical_id}-{secrets.token_hex(6)}", props)


def _update(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props.get("Name") != old.properties.get("Name"):
        return None
    return _put(ctx, old.logical_id, old.physical_id, props)


def _delete(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("ssm").delete_parameter(Name=resource.physical_id))


RESOURCE_TYPES = (ResourceType("AWS::SSM::Parameter", _create, _update, _delete),)
