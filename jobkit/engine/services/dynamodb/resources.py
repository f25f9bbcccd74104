"""AWS::DynamoDB::Table ("AWS::DynamoDB::Table", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html).

A new TableName, KeySchema or set of local indexes replaces the table (its items go, as on AWS); the stream,
billing, throughput, encryption and global indexes are updated in place and the items are kept.
"""

from __future__ import annotations

from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    ResourceType,
    changed,
    delete_quietly,
)

#: "Update requires: Replacement" on the page above
_REPLACING = ("TableName", "KeySchema", "LocalSecondaryIndexes")


def _sse(props: dict[str, Any]) -> dict[str, Any]:
    sse = props.get("SSESpecification") or {}
    spec: dict[str, Any] = {"Enabled": bool(sse.get("SSEEnabled")), "SSEType": sse.get("SSEType", "KMS")}
    if "KMSMasterKeyId" in sse:
        spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
    return spec


def _described(logical_id: str, name: str, props: dict[str, Any], table: dict[str, Any]) -> DeployedResource:
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn") and (table.get("StreamSpecification") or {}).get("StreamEnabled"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return DeployedResource(logical_id, "AWS::DynamoDB::Table", name, props, attributes)


def _create(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    name = props.get("TableName") or ctx.name(logical_id, 255)
    args: dict[str, Any] = {"TableName": name, "KeySchema": props["KeySchema"],
                            "AttributeDefinitions": props["AttributeDefinitions"],
                            "BillingMode": props.get("BillingMode", "PROVISIONED")}
    if "ProvisionedThroughput" in props:
        args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification"):
        args["SSESpecification"] = _sse(props)
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in props:
            args[key] = props[key]
    table = ctx.clients("dynamodb").create_table(**args)["TableDescription"]
    return _described(logical_id, name, props, table)


def _update(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, _REPLACING):
        return None
    dynamodb, name, before = ctx.clients("dynamodb"), old.physical_id, old.properties
    if before.get("StreamSpecification") != props.get("StreamSpecification"):
        # a stream's view type cannot change while it is on: off first, then on with the new type (a new stream)
        if before.get("StreamSpecification"):
            dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
        if props.get("StreamSpecification"):
            dynamodb.update_table(TableName=name,
                                  StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]})
    args: dict[str, Any] = {}
    if before.get("BillingMode", "PROVISIONED") != props.get("BillingMode", "PROVISIONED"):
        args["BillingMode"] = props.get("BillingMode", "PROVISIONED")
    if before.get("ProvisionedThroughput") != props.get("ProvisionedThroughput") and "ProvisionedThroughput" in props:
        args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if before.get("SSESpecification") != props.get("SSESpecification"):
        args["SSESpecification"] = _sse(props)
    if args:
        dynamodb.update_table(TableName=name, **args)
    _update_global_indexes(dynamodb, name, before, props)
    return _described(old.logical_id, name, props, dynamodb.describe_table(TableName=name)["Table"])


def _update_global_indexes(dynamodb: Any, name: str, before: dict[str, Any], props: dict[str, Any]) -> None:
    """Global indexes added or removed by name (one index per UpdateTable call, as DynamoDB requires); one
    whose definition changed goes and comes back."""
    old = {i["IndexName"]: i for i in before.get("GlobalSecondaryIndexes", [])}
    new = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    for index in [n for n in old if n not in new or old[n] != new[n]]:
        dynamodb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])
    for index in [n for n in new if n not in old or old[n] != new[n]]:
        dynamodb.update_table(TableName=name, AttributeDefinitions=props["AttributeDefinitions"],
                              GlobalSecondaryIndexUpdates=[{"Create": new[index]}])


def _delete(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("dynamodb").delete_table(TableName=resource.physical_id))


RESOURCE_TYPES = (ResourceType("AWS::DynamoDB::Table", _create, _update, _delete),)
