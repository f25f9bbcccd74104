"""AWS::ECR::Repository ("AWS::ECR::Repository", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecr-repository.html),
made through the ECR API the engine serves (moto's): a new RepositoryName or EncryptionConfiguration replaces
it; tag mutability, scanning, lifecycle policy, repository policy and tags are updated in place. The engine
runs no container images: the repository is there for what cdk's bootstrap stack declares."""

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


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _configure(ecr: Any, name: str, props: dict[str, Any], old: dict[str, Any]) -> None:
    if "ImageTagMutability" in old and props.get("ImageTagMutability") != old.get("ImageTagMutability"):
        ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability=props.get("ImageTagMutability",
                                                                                        "MUTABLE"))
    if old and props.get("ImageScanningConfiguration") != old.get("ImageScanningConfiguration"):
        ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={
            "scanOnPush": bool(props.get("ImageScanningConfiguration", {}).get("ScanOnPush", False))})
    lifecycle = props.get("LifecyclePolicy", {}).get("LifecyclePolicyText")
    if lifecycle != old.get("LifecyclePolicy", {}).get("LifecyclePolicyText"):
        if lifecycle:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=_text(lifecycle))
        else:
            delete_quietly(lambda: ecr.delete_lifecycle_policy(repositoryName=name))
    if props.get("RepositoryPolicyText") != old.get("RepositoryPolicyText"):
        if props.get("RepositoryPolicyText"):
            ecr.set_repository_policy(repositoryName=name, policyText=_text(props["RepositoryPolicyText"]))
        else:
            delete_quietly(lambda: ecr.delete_repository_policy(repositoryName=name))


def _attributes(ctx: DeployContext, name: str, arn: str) -> dict[str, str]:
    return {"Arn": arn, "RepositoryUri": f"{ctx.account}.dkr.ecr.{ctx.region}.amazonaws.com/{name}"}


def _create(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    ecr = ctx.clients("ecr")
    name = props.get("RepositoryName") or ctx.name(logical_id, 256).lower()
    args: dict[str, Any] = {"repositoryName": name,
                            "imageTagMutability": props.get("ImageTagMutability", "MUTABLE"),
                            "imageScanningConfiguration": {"scanOnPush": bool(
                                props.get("ImageScanningConfiguration", {}).get("ScanOnPush", False))}}
    if props.get("EncryptionConfiguration"):
        encryption = props["EncryptionConfiguration"]
        args["encryptionConfiguration"] = {"encryptionType": encryption["EncryptionType"],
                                           **({"kmsKey": encryption["KmsKey"]} if "KmsKey" in encryption else {})}
    if props.get("Tags"):
        args["tags"] = props["Tags"]
    repository = ecr.create_repository(**args)["repository"]
    try:
        _configure(ecr, name, props, {})
    except Exception:
        delete_quietly(lambda: ecr.delete_repository(repositoryName=name, force=True))
        raise
    return DeployedResource(logical_id, "AWS::ECR::Repository", name, props,
                            _attributes(ctx, name, repository["repositoryArn"]))


def _update(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("RepositoryName", "EncryptionConfiguration")):
        return None
    ecr, name = ctx.clients("ecr"), old.physical_id
    _configure(ecr, name, props, old.properties)
    if props.get("Tags") != old.properties.get("Tags"):
        arn = old.attributes["Arn"]
        gone = [t["Key"] for t in old.properties.get("Tags", [])
                if t["Key"] not in {n["Key"] for n in props.get("Tags", [])}]
        if gone:
            ecr.untag_resource(resourceArn=arn, tagKeys=gone)
        if props.get("Tags"):
            ecr.tag_resource(resourceArn=arn, tags=props["Tags"])
    return DeployedResource(old.logical_id, old.type, name, props, old.attributes)


def _delete(ctx: DeployContext, resource: DeployedResource) -> None:
    force = str(resource.properties.get("EmptyOnDelete", "false")).lower() == "true"
    delete_quietly(lambda: ctx.clients("ecr").delete_repository(repositoryName=resource.physical_id, force=force))


RESOURCE_TYPES = (ResourceType("AWS::ECR::Repository", _create, _update, _delete),)
