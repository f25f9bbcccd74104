"""AWS::Events::EventBus, AWS::Events::Archive and AWS::Events::Rule ("AWS::Events::Rule",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-events-rule.html): each
made through the EventBridge API the engine serves, so a rule of the template routes as one PutRule made."""

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


def _create_bus(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    arn = ctx.clients("events").create_event_bus(Name=props["Name"])["EventBusArn"]
    return DeployedResource(logical_id, "AWS::Events::EventBus", props["Name"], props,
                            {"Arn": arn, "Name": props["Name"]})


def _update_bus(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props["Name"] != old.physical_id or props.get("EventSourceName") != old.properties.get("EventSourceName"):
        return None
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_bus(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("events").delete_event_bus(Name=resource.physical_id))


def _archive_args(props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"Description": props.get("Description", "")}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    if "RetentionDays" in props:
        args["RetentionDays"] = int(props["RetentionDays"])
    return args


def _create_archive(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    name = props.get("ArchiveName") or ctx.name(logical_id, 48)
    arn = ctx.clients("events").create_archive(ArchiveName=name, EventSourceArn=props["SourceArn"],
                                               **_archive_args(props))["ArchiveArn"]
    return DeployedResource(logical_id, "AWS::Events::Archive", name, props, {"Arn": arn})


def _update_archive(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("ArchiveName", "SourceArn")):
        return None
    ctx.clients("events").update_archive(ArchiveName=old.physical_id, **_archive_args(props))
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_archive(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("events").delete_archive(ArchiveName=resource.physical_id))


def _put_rule(ctx: DeployContext, logical_id: str, name: str, props: dict[str, Any],
              old_targets: list[dict[str, Any]]) -> DeployedResource:
    events = ctx.clients("events")
    bus = props.get("EventBusName", "default")
    args: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED"),
                            "Description": props.get("Description", "")}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    if "ScheduleExpression" in props:
        args["ScheduleExpression"] = props["ScheduleExpression"]
    arn = events.put_rule(**args)["RuleArn"]
    targets = props.get("Targets") or []
    gone = sorted({t["Id"] for t in old_targets} - {t["Id"] for t in targets})
    if gone:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=gone)
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    physical = name if bus == "default" else f"{bus}|{name}"
    return DeployedResource(logical_id, "AWS::Events::Rule", physical, props, {"Arn": arn, "Name": name})


def _create_rule(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    return _put_rule(ctx, logical_id, props.get("Name") or ctx.name(logical_id), props, [])


def _update_rule(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("Name", "EventBusName")):
        return None
    return _put_rule(ctx, old.logical_id, old.attributes["Name"], props, old.properties.get("Targets") or [])


def _delete_rule(ctx: DeployContext, resource: DeployedResource) -> None:
    events = ctx.clients("events")
    name, bus = resource.attributes["Name"], resource.properties.get("EventBusName", "default")

    def delete() -> None:
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]]
        if ids:
            events.remove_targets(Rule=name, EventBusName=bus, Ids=ids)
        events.delete_rule(Name=name, EventBusName=bus)

    delete_quietly(delete)


RESOURCE_TYPES = (
    ResourceType("AWS::Events::EventBus", _create_bus, _update_bus, _delete_bus),
    ResourceType("AWS::Events::Archive", _create_archive, _update_archive, _delete_archive),
    ResourceType("AWS::Events::Rule", _create_rule, _update_rule, _delete_rule),
)
