"""AWS::S3::Bucket and AWS::S3::BucketPolicy, made, updated in place and deleted through the engine's S3, as
cdk's bootstrap stack declares its staging bucket."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from jobkit.engine.services.cloudformation.deployer import StackDeployer
from jobkit.engine.services.cloudformation.resource_types import DeploymentError

STAGING = {
    "BucketName": "resources-staging-bucket",
    "AccessControl": "Private",
    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]},
    "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
    "VersioningConfiguration": {"Status": "Enabled"},
    "LifecycleConfiguration": {"Rules": [
        {"Id": "CleanupOldVersions", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
        {"Id": "AbortIncompleteMultipartUploads", "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
}
#: the bootstrap bucket's policy: every request without TLS denied
TLS_ONLY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "AllowSSLRequestsOnly", "Action": "s3:*", "Effect": "Deny", "Principal": "*",
    "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def _template(bucket: dict) -> dict:
    return {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": bucket},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"},
                                                                    "PolicyDocument": TLS_ONLY}}},
        "Outputs": {"Domain": {"Value": {"Fn::GetAtt": ["Bucket", "RegionalDomainName"]}}}}


def test_the_bootstrap_bucket_is_made_updated_and_deleted(moto_endpoint) -> None:
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Buckets")
    deployer.apply(_template(STAGING))
    s3, name = moto_endpoint("s3"), "resources-staging-bucket"
    assert deployer.registry.outputs["Domain"] == f"{name}.s3.us-east-1.amazonaws.com"
    assert deployer.registry.resources["Bucket"].attributes["Arn"] == f"arn:aws:s3:::{name}"
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert rules["CleanupOldVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["AbortIncompleteMultipartUploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"][0]["Sid"] == "AllowSSLRequestsOnly"
    # the policy's Deny holds only without TLS: the engine's S3 takes uploads, as cdk's asset publishing needs
    s3.put_object(Bucket=name, Key="asset.zip", Body=b"zip")

    changed = {k: v for k, v in STAGING.items() if k != "PublicAccessBlockConfiguration"}
    changed["Tags"] = [{"Key": "purpose", "Value": "assets"}]
    changes = deployer.apply(_template(changed))
    assert changes.updated == ["Bucket"] and not changes.replaced
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "purpose", "Value": "assets"}]
    with pytest.raises(ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=name)

    with pytest.raises(DeploymentError, match=r"BucketNotEmpty|not empty"):  # as on AWS: objects stay, so does it
        deployer.delete()
    s3.delete_object(Bucket=name, Key="asset.zip")
    for version in s3.list_object_versions(Bucket=name).get("Versions", []) + \
            s3.list_object_versions(Bucket=name).get("DeleteMarkers", []):
        s3.delete_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
    deployer.delete()
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_a_bucket_property_the_engine_does_not_make_is_refused_by_name(moto_endpoint) -> None:
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Refused")
    with pytest.raises(DeploymentError, match="AWS::S3::Bucket property NotificationConfiguration"):
        deployer.apply({"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": "refused-bucket", "NotificationConfiguration": {}}}}})
    assert "refused-bucket" not in {b["Name"] for b in moto_endpoint("s3").list_buckets()["Buckets"]}
