"""The shell environment that points the AWS CLI, the SDKs and awslocal at a deployment: what ``jobkit env``
prints and what the init hooks run with."""

from __future__ import annotations

import re

from jobkit.client.deployment import LOCAL_CREDENTIALS, Deployment
from jobkit.errors import JobkitError


def region_of(deployment: Deployment) -> str:
    """The stack's region: the outputs file's (local targets write it), else the table stream's ARN's (cdk deploy
    writes no region); the client's own otherwise."""
    parts = deployment.outputs.get("JobsTableStreamArn", "").split(":")
    if "JobkitRegion" not in deployment.outputs and len(parts) > 3 and parts[3]:
        return parts[3]
    return deployment.region


def exports(deployment: Deployment, where: str) -> dict[str, str]:
    """The variables, in the order they are printed; ``where`` names the outputs file in the line a bad value
    gets. On AWS only the region (the user's own credentials and AWS's endpoints apply)."""
    region = region_of(deployment)
    if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+", region):
        raise JobkitError(f"{region!r} is not an AWS region", f"check {where}")
    # AWS_REGION is the SDKs' region variable (https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html);
    # boto3 and the AWS CLI v1 (which awslocal runs) read AWS_DEFAULT_REGION instead, so both are set.
    variables = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    if deployment.endpoint_url is None:
        return variables
    endpoint = deployment.endpoint_url
    if not (re.fullmatch(r"https?://\S+", endpoint) and endpoint.isascii() and endpoint.isprintable()):
        raise JobkitError(f"the deployment's endpoint {endpoint!r} is not a URL", f"check {where}")
    # AWS_ENDPOINT_URL: the endpoint of every service for the SDKs and the CLI
    # (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html); the sandbox's dummy keys
    return {"AWS_ENDPOINT_URL": endpoint, **variables,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]}
