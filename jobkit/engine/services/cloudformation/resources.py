"""CloudFormation's own resource types."""

from __future__ import annotations

from typing import Any

from jobkit.engine.services.cloudformation.resource_types import DeployContext, DeployedResource, ResourceType


def _metadata(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    return DeployedResource(logical_id, "AWS::CDK::Metadata", logical_id, props)


def _keep(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource:
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


RESOURCE_TYPES = (ResourceType("AWS::CDK::Metadata", _metadata, _keep),)
