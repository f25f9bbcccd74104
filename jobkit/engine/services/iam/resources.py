"""AWS::IAM::Role and AWS::IAM::Policy ("AWS::IAM::Role", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html;
"AWS::IAM::Policy", .../aws-resource-iam-policy.html). A new RoleName or Path replaces a role; its trust policy,
inline and managed policies are updated in place."""

from __future__ import annotations

import json
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    DeploymentError,
    ResourceType,
    changed,
    delete_quietly,
)

#: AWS managed policies: moto loads them only on request (slow), so the engine keeps the attachment itself
_AWS_MANAGED = "arn:aws:iam::aws:policy/"


def _inline(props: dict[str, Any]) -> dict[str, str]:
    return {p["PolicyName"]: json.dumps(p["PolicyDocument"]) for p in props.get("Policies", [])}


def _attach(iam: Any, name: str, props: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Managed policies and inline policies as ``props`` says, from what ``old`` had; the AWS managed ones."""
    before, after = set(old.get("ManagedPolicyArns", [])), list(props.get("ManagedPolicyArns", []))
    for arn in before - set(after):
        if not arn.startswith(_AWS_MANAGED):
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    for arn in after:
        if arn not in before and not arn.startswith(_AWS_MANAGED):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    inline_before, inline_after = _inline(old), _inline(props)
    for policy in set(inline_before) - set(inline_after):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for policy, document in inline_after.items():
        if inline_before.get(policy) != document:
            iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=document)
    return [arn for arn in after if arn.startswith(_AWS_MANAGED)]


def _create_role(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    iam = ctx.clients("iam")
    name = props.get("RoleName") or ctx.name(logical_id)
    role = iam.create_role(RoleName=name, Path=props.get("Path", "/"),
                           AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
                           Description=props.get("Description", ""))["Role"]
    aws_managed = _attach(iam, name, props, {})
    return DeployedResource(logical_id, "AWS::IAM::Role", name, props,
                            {"Arn": role["Arn"], "RoleId": role["RoleId"],
                             "AwsManagedPolicyArns": ",".join(aws_managed)})


def _update_role(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("RoleName", "Path")):
        return None
    iam, name = ctx.clients("iam"), old.physical_id
    if props["AssumeRolePolicyDocument"] != old.properties.get("AssumeRolePolicyDocument"):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
    if props.get("Description", "") != old.properties.get("Description", ""):
        iam.update_role(RoleName=name, Description=props.get("Description", ""))
    aws_managed = _attach(iam, name, props, old.properties)
    return DeployedResource(old.logical_id, old.type, name, props,
                            {**old.attributes, "AwsManagedPolicyArns": ",".join(aws_managed)})


def _delete_role(ctx: DeployContext, resource: DeployedResource) -> None:
    iam, name = ctx.clients("iam"), resource.physical_id

    def delete() -> None:
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)

    delete_quietly(delete)


def _put_policy(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    if props.get("Users") or props.get("Groups"):
        raise DeploymentError(f"{logical_id}: AWS::IAM::Policy on users or groups is not supported")
    iam, document = ctx.clients("iam"), json.dumps(props["PolicyDocument"])
    for role in props.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document)
    return DeployedResource(logical_id, "AWS::IAM::Policy", props["PolicyName"], props)


def _update_policy(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    gone = set(old.properties.get("Roles", [])) - set(props.get("Roles", []))
    if props["PolicyName"] != old.properties["PolicyName"]:
        gone = set(old.properties.get("Roles", []))
    _remove_policy(ctx, old.properties["PolicyName"], gone)
    return _put_policy(ctx, old.logical_id, props)


def _remove_policy(ctx: DeployContext, policy: str, roles: set[str] | list[str]) -> None:
    iam = ctx.clients("iam")
    for role in roles:
        delete_quietly(lambda role=role: iam.delete_role_policy(RoleName=role, PolicyName=policy))  # type: ignore[misc]


def _delete_policy(ctx: DeployContext, resource: DeployedResource) -> None:
    _remove_policy(ctx, resource.properties["PolicyName"], resource.properties.get("Roles", []))


RESOURCE_TYPES = (
    ResourceType("AWS::IAM::Role", _create_role, _update_role, _delete_role),
    ResourceType("AWS::IAM::Policy", _put_policy, _update_policy, _delete_policy),
)
