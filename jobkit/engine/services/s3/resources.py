"""S3's resource types, made through the S3 API the engine serves (moto's):

- AWS::S3::Bucket ("AWS::S3::Bucket", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucket.html):
  a new BucketName replaces it; its encryption, public access block, versioning, lifecycle rules, CORS rules,
  ownership controls and tags are updated in place. A property the engine does not make (notifications,
  website, replication, object lock ...) is refused by name rather than left out. Deleting a bucket that still
  holds objects fails, as it does on AWS (the bootstrap stack's bucket is retained: ``DeletionPolicy: Retain``).
- AWS::S3::BucketPolicy (.../aws-resource-s3-bucketpolicy.html): a new Bucket replaces it.
"""

from __future__ import annotations

import json
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    DeploymentError,
    ResourceType,
    delete_quietly,
)

#: the bucket's properties the engine makes, each with the S3 call that sets it
_SUPPORTED = frozenset({"BucketName", "AccessControl", "BucketEncryption", "PublicAccessBlockConfiguration",
                        "VersioningConfiguration", "LifecycleConfiguration", "CorsConfiguration",
                        "OwnershipControls", "Tags"})
#: a lifecycle rule's properties as the template names them -> as the API does ("AWS::S3::Bucket Rule",
#: .../aws-properties-s3-bucket-rule.html; PutBucketLifecycleConfiguration's LifecycleRule)
_RULE_KEYS = frozenset({"Id", "Status", "Prefix", "ExpirationInDays", "ExpirationDate", "ExpiredObjectDeleteMarker",
                        "NoncurrentVersionExpiration", "NoncurrentVersionExpirationInDays",
                        "AbortIncompleteMultipartUpload", "Transitions", "NoncurrentVersionTransitions",
                        "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})


def _check(logical_id: str, props: dict[str, Any]) -> None:
    unknown = sorted(set(props) - _SUPPORTED)
    if unknown:
        raise DeploymentError(f"{logical_id}: the embedded engine does not make the AWS::S3::Bucket "
                              f"propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}")


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise DeploymentError(f"a lifecycle rule's {', '.join(unknown)} is not supported by the embedded engine")
    api: dict[str, Any] = {"Status": rule["Status"]}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    conditions: list[dict[str, Any]] = []
    if "Prefix" in rule:
        conditions.append({"Prefix": rule["Prefix"]})
    conditions += [{"Tag": {"Key": t["Key"], "Value": t["Value"]}} for t in rule.get("TagFilters", [])]
    for key in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if key in rule:
            conditions.append({key: int(rule[key])})
    if len(conditions) == 1:
        api["Filter"] = conditions[0]
    elif conditions:
        merged: dict[str, Any] = {"Tags": [c["Tag"] for c in conditions if "Tag" in c]}
        for condition in conditions:
            merged.update({k: v for k, v in condition.items() if k != "Tag"})
        api["Filter"] = {"And": merged}
    else:
        api["Filter"] = {"Prefix": ""}
    expiration = {key: value for key, value in (("Days", rule.get("ExpirationInDays")),
                                                 ("Date", rule.get("ExpirationDate")),
                                                 ("ExpiredObjectDeleteMarker", rule.get("ExpiredObjectDeleteMarker")))
                  if value is not None}
    if expiration:
        api["Expiration"] = {k: int(v) if k == "Days" else v for k, v in expiration.items()}
    noncurrent = dict(rule.get("NoncurrentVersionExpiration", {}))
    if "NoncurrentVersionExpirationInDays" in rule:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    if "Transitions" in rule:
        api["Transitions"] = [{"StorageClass": t["StorageClass"],
                               **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
                               **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {})}
                              for t in rule["Transitions"]]
    if "NoncurrentVersionTransitions" in rule:
        api["NoncurrentVersionTransitions"] = [{"StorageClass": t["StorageClass"],
                                                "NoncurrentDays": int(t["TransitionInDays"])}
                                               for t in rule["NoncurrentVersionTransitions"]]
    return api


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """"ServerSideEncryptionRule": the template's ServerSideEncryptionByDefault is the API's
    ApplyServerSideEncryptionByDefault."""
    api: dict[str, Any] = {}
    if "ServerSideEncryptionByDefault" in rule:
        api["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    if "BucketKeyEnabled" in rule:
        api["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower() == "true"
    return api


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renamed = {"Id": "ID", "MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
    return {renamed.get(key, key): (int(value) if key == "MaxAge" else value) for key, value in rule.items()}


def _configure(s3: Any, bucket: str, props: dict[str, Any], old: dict[str, Any]) -> None:
    """Each configuration as ``props`` says, where it differs from ``old``; a removed one taken away."""

    def differs(key: str) -> bool:
        return props.get(key) != old.get(key)

    if differs("AccessControl") and "AccessControl" in props:
        acl = {"Private": "private", "PublicRead": "public-read", "PublicReadWrite": "public-read-write",
               "AuthenticatedRead": "authenticated-read", "BucketOwnerRead": "bucket-owner-read",
               "BucketOwnerFullControl": "bucket-owner-full-control", "LogDeliveryWrite": "log-delivery-write",
               "AwsExecRead": "aws-exec-read"}
        s3.put_bucket_acl(Bucket=bucket, ACL=acl.get(props["AccessControl"], props["AccessControl"]))
    if differs("BucketEncryption"):
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
                _encryption_rule(rule) for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
        else:
            s3.delete_bucket_encryption(Bucket=bucket)
    if differs("PublicAccessBlockConfiguration"):
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
                key: bool(value) for key, value in props["PublicAccessBlockConfiguration"].items()})
        else:
            s3.delete_public_access_block(Bucket=bucket)
    if differs("VersioningConfiguration"):
        status = props.get("VersioningConfiguration", {}).get("Status", "Suspended")
        if status != "Suspended" or "VersioningConfiguration" in old:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    if differs("LifecycleConfiguration"):
        if "LifecycleConfiguration" in props:
            rules = [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"].get("Rules", [])]
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        else:
            s3.delete_bucket_lifecycle(Bucket=bucket)
    if differs("CorsConfiguration"):
        if "CorsConfiguration" in props:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={
                "CORSRules": [_cors_rule(rule) for rule in props["CorsConfiguration"]["CorsRules"]]})
        else:
            s3.delete_bucket_cors(Bucket=bucket)
    if differs("OwnershipControls"):
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
        else:
            s3.delete_bucket_ownership_controls(Bucket=bucket)
    if differs("Tags"):
        if props.get("Tags"):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": props["Tags"]})
        else:
            s3.delete_bucket_tagging(Bucket=bucket)


def _attributes(ctx: DeployContext, bucket: str) -> dict[str, str]:
    """"AWS::S3::Bucket", Return values: Fn::GetAtt."""
    return {"Arn": f"arn:aws:s3:::{bucket}", "DomainName": f"{bucket}.s3.amazonaws.com",
            "RegionalDomainName": f"{bucket}.s3.{ctx.region}.amazonaws.com",
            "DualStackDomainName": f"{bucket}.s3.dualstack.{ctx.region}.amazonaws.com",
            "WebsiteURL": f"http://{bucket}.s3-website-{ctx.region}.amazonaws.com"}


def _create_bucket(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    _check(logical_id, props)
    s3 = ctx.clients("s3")
    name = props.get("BucketName") or ctx.name(logical_id, 63).lower()
    args: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    s3.create_bucket(**args)
    try:
        _configure(s3, name, props, {})
    except Exception:
        delete_quietly(lambda: s3.delete_bucket(Bucket=name))
        raise
    return DeployedResource(logical_id, "AWS::S3::Bucket", name, props, _attributes(ctx, name))


def _update_bucket(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    _check(old.logical_id, props)
    if props.get("BucketName") != old.properties.get("BucketName"):
        return None
    _configure(ctx.clients("s3"), old.physical_id, props, old.properties)
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_bucket(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("s3").delete_bucket(Bucket=resource.physical_id))


def _put_policy(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    document = props["PolicyDocument"]
    ctx.clients("s3").put_bucket_policy(Bucket=props["Bucket"],
                                        Policy=document if isinstance(document, str) else json.dumps(document))
    return DeployedResource(logical_id, "AWS::S3::BucketPolicy", props["Bucket"], props)


def _update_policy(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props["Bucket"] != old.properties["Bucket"]:
        return None
    return _put_policy(ctx, old.logical_id, props)


def _delete_policy(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("s3").delete_bucket_policy(Bucket=resource.physical_id))


RESOURCE_TYPES = (
    ResourceType("AWS::S3::Bucket", _create_bucket, _update_bucket, _delete_bucket),
    ResourceType("AWS::S3::BucketPolicy", _put_policy, _update_policy, _delete_policy),
)
