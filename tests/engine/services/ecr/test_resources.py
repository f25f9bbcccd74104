"""AWS::ECR::Repository, as cdk's bootstrap stack declares its container assets repository."""

from __future__ import annotations

import json

from jobkit.engine.services.cloudformation.deployer import StackDeployer

LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "description": "expire untagged",
                                   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                 "countUnit": "days", "countNumber": 365},
                                   "action": {"type": "expire"}}]})
POLICY = {"Version": "2012-10-17", "Statement": [{"Sid": "LambdaECRImageRetrievalPolicy", "Effect": "Allow",
                                                   "Principal": {"Service": "lambda.amazonaws.com"},
                                                   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}


def test_the_repository_is_made_updated_and_deleted(moto_endpoint) -> None:
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Repos")
    props = {"RepositoryName": "resources-container-assets", "ImageTagMutability": "IMMUTABLE",
             "LifecyclePolicy": {"LifecyclePolicyText": LIFECYCLE}, "RepositoryPolicyText": POLICY}
    deployer.apply({"Resources": {"Repo": {"Type": "AWS::ECR::Repository", "Properties": props}},
                    "Outputs": {"Uri": {"Value": {"Fn::GetAtt": ["Repo", "RepositoryUri"]}}}})
    ecr, name = moto_endpoint("ecr"), "resources-container-assets"
    assert deployer.registry.outputs["Uri"] == f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{name}"
    [repository] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"][0][
        "rulePriority"] == 1
    assert json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])["Statement"][0]["Sid"] == \
        "LambdaECRImageRetrievalPolicy"

    changes = deployer.apply({"Resources": {"Repo": {"Type": "AWS::ECR::Repository", "Properties": {
        **props, "ImageTagMutability": "MUTABLE", "Tags": [{"Key": "k", "Value": "v"}]}}}})
    assert changes.updated == ["Repo"]
    [repository] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repository["imageTagMutability"] == "MUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"] == [{"Key": "k", "Value": "v"}]

    deployer.delete()
    assert name not in {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
