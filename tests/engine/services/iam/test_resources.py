"""AWS::IAM::ManagedPolicy (a new document is a new default version; principals attached and detached in place)
and a role's permissions boundary and tags, as cdk's bootstrap stack declares them."""

from __future__ import annotations

import json

from jobkit.engine.services.cloudformation.deployer import StackDeployer

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                  "Principal": {"AWS": "000000000000"}}]}


def _document(action: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


def _template(action: str, roles: list[str], **role: object) -> dict:
    return {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "resources-boundary-role",
                                                         "AssumeRolePolicyDocument": TRUST, **role}},
        "Boundary": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "ManagedPolicyName": "resources-boundary", "Description": "a boundary", "PolicyDocument": _document(action),
            "Roles": roles}}}}


def test_a_managed_policy_and_a_roles_boundary_and_tags_follow_their_template(moto_endpoint) -> None:
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Policies")
    boundary = "arn:aws:iam::000000000000:policy/resources-boundary"
    deployer.apply(_template("s3:GetObject", [{"Ref": "Role"}], Tags=[{"Key": "aws-cdk:bootstrap-role",
                                                                        "Value": "deploy"}]))
    iam = moto_endpoint("iam")
    assert deployer.registry.resources["Boundary"].physical_id == boundary
    attached = iam.list_attached_role_policies(RoleName="resources-boundary-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [boundary]
    assert iam.list_role_tags(RoleName="resources-boundary-role")["Tags"] == [
        {"Key": "aws-cdk:bootstrap-role", "Value": "deploy"}]

    changes = deployer.apply(_template("s3:PutObject", [], PermissionsBoundary=boundary))
    assert changes.updated == ["Role", "Boundary"] and not changes.replaced
    policy = iam.get_policy(PolicyArn=boundary)["Policy"]
    version = iam.get_policy_version(PolicyArn=boundary, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = version["Document"] if isinstance(version["Document"], dict) else json.loads(version["Document"])
    assert document["Statement"][0]["Action"] == "s3:PutObject"
    assert iam.list_attached_role_policies(RoleName="resources-boundary-role")["AttachedPolicies"] == []
    role = iam.get_role(RoleName="resources-boundary-role")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert iam.list_role_tags(RoleName="resources-boundary-role")["Tags"] == []

    deployer.delete()
    assert boundary not in {p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
