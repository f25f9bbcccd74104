"""AWS::IAM::Role, AWS::IAM::Policy and AWS::IAM::ManagedPolicy ("AWS::IAM::Role", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html;
"AWS::IAM::Policy", .../aws-resource-iam-policy.html; "AWS::IAM::ManagedPolicy",
.../aws-resource-iam-managedpolicy.html). A new RoleName or Path replaces a role; its trust policy, inline and
managed policies, permissions boundary and tags are updated in place. A managed policy's new name, path or
description replaces it; a new document is a new default version; its roles, users and groups are attached and
detached in place."""

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
    args: dict[str, Any] = {"RoleName": name, "Path": props.get("Path", "/"),
                            "AssumeRolePolicyDocument": json.dumps(props["AssumeRolePolicyDocument"]),
                            "Description": props.get("Description", "")}
    if props.get("PermissionsBoundary"):
        args["PermissionsBoundary"] = props["PermissionsBoundary"]
    if props.get("MaxSessionDuration"):
        args["MaxSessionDuration"] = int(props["MaxSessionDuration"])
    if props.get("Tags"):
        args["Tags"] = props["Tags"]
    role = iam.create_role(**args)["Role"]
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
    if changed(old.properties, props, ("Description", "MaxSessionDuration")):
        iam.update_role(RoleName=name, Description=props.get("Description", ""),
                        MaxSessionDuration=int(props.get("MaxSessionDuration", 3600)))
    if props.get("PermissionsBoundary") != old.properties.get("PermissionsBoundary"):
        if props.get("PermissionsBoundary"):
            iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=props["PermissionsBoundary"])
        else:
            iam.delete_role_permissions_boundary(RoleName=name)
    if props.get("Tags") != old.properties.get("Tags"):
        gone = {t["Key"] for t in old.properties.get("Tags", [])} - {t["Key"] for t in props.get("Tags", [])}
        if gone:
            iam.untag_role(RoleName=name, TagKeys=sorted(gone))
        if props.get("Tags"):
            iam.tag_role(RoleName=name, Tags=props["Tags"])
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


#: the principals a managed policy is attached to: template property -> (attach, detach, the API's name for it)
_PRINCIPALS = {"Roles": ("attach_role_policy", "detach_role_policy", "RoleName"),
               "Users": ("attach_user_policy", "detach_user_policy", "UserName"),
               "Groups": ("attach_group_policy", "detach_group_policy", "GroupName")}
#: "IAM and AWS STS quotas": versions of a managed policy
_MAX_VERSIONS = 5


def _attach_managed(iam: Any, arn: str, props: dict[str, Any], old: dict[str, Any]) -> None:
    for key, (attach, detach, name) in _PRINCIPALS.items():
        before, after = set(old.get(key, [])), set(props.get(key, []))
        for principal in sorted(before - after):
            delete_quietly(lambda principal=principal, detach=detach, name=name: getattr(iam, detach)(  # type: ignore[misc]
                **{name: principal, "PolicyArn": arn}))
        for principal in sorted(after - before):
            getattr(iam, attach)(**{name: principal, "PolicyArn": arn})


def _create_managed(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    iam = ctx.clients("iam")
    args: dict[str, Any] = {"PolicyName": props.get("ManagedPolicyName") or ctx.name(logical_id, 128),
                            "Path": props.get("Path", "/"), "PolicyDocument": json.dumps(props["PolicyDocument"])}
    if props.get("Description"):
        args["Description"] = props["Description"]
    policy = iam.create_policy(**args)["Policy"]
    _attach_managed(iam, policy["Arn"], props, {})
    return DeployedResource(logical_id, "AWS::IAM::ManagedPolicy", policy["Arn"], props,
                            {"PolicyArn": policy["Arn"], "PolicyId": policy["PolicyId"],
                             "DefaultVersionId": policy["DefaultVersionId"]})


def _update_managed(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("ManagedPolicyName", "Path", "Description")):
        return None
    iam, arn, attributes = ctx.clients("iam"), old.physical_id, dict(old.attributes)
    if props["PolicyDocument"] != old.properties["PolicyDocument"]:
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        if len(versions) >= _MAX_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(props["PolicyDocument"]),
                                            SetAsDefault=True)["PolicyVersion"]
        attributes["DefaultVersionId"] = version["VersionId"]
    _attach_managed(iam, arn, props, old.properties)
    return DeployedResource(old.logical_id, old.type, arn, props, attributes)


def _delete_managed(ctx: DeployContext, resource: DeployedResource) -> None:
    iam, arn = ctx.clients("iam"), resource.physical_id

    def delete() -> None:
        _attach_managed(iam, arn, {}, resource.properties)
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=arn)

    delete_quietly(delete)


RESOURCE_TYPES = (
    ResourceType("AWS::IAM::Role", _create_role, _update_role, _delete_role),
    ResourceType("AWS::IAM::Policy", _put_policy, _update_policy, _delete_policy),
    ResourceType("AWS::IAM::ManagedPolicy", _create_managed, _update_managed, _delete_managed),
)
