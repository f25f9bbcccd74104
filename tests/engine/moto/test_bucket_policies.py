"""A bucket policy's statement applies only when its conditions hold: moto's store has no request context, so
a Deny on a condition (cdk's bootstrap bucket: no TLS) does not refuse every request, and one without a
condition still does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.engine.moto.bucket_policies import holds_without_context


def _deny(bucket: str, **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_conditional_deny_does_not_refuse_and_an_unconditional_one_does(
        moto_endpoint: Callable[[str], Any]) -> None:
    s3 = moto_endpoint("s3")
    s3.create_bucket(Bucket="policies-conditional")
    s3.put_bucket_policy(Bucket="policies-conditional",
                         Policy=_deny("policies-conditional", Bool={"aws:SecureTransport": "false"}))
    s3.put_object(Bucket="policies-conditional", Key="k", Body=b"v")
    assert s3.get_object(Bucket="policies-conditional", Key="k")["Body"].read() == b"v"

    s3.create_bucket(Bucket="policies-denied")
    s3.put_bucket_policy(Bucket="policies-denied", Policy=_deny("policies-denied"))
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="policies-denied", Key="k", Body=b"v")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize(("condition", "holds"), [
    ({"Bool": {"aws:SecureTransport": "false"}}, False),
    ({"StringEquals": {"aws:ResourceAccount": ["000000000000"]}}, False),
    ({"Null": {"sts:ExternalId": "true"}}, True),
    ({"Null": {"sts:ExternalId": "false"}}, False),
    ({"StringLikeIfExists": {"aws:SourceArn": "arn:*"}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, True),
    ({"Null": {"sts:ExternalId": "true"}, "Bool": {"aws:SecureTransport": "true"}}, False),
])
def test_conditions_on_keys_the_request_does_not_have(condition: dict[str, Any], holds: bool) -> None:
    assert holds_without_context(condition) is holds
