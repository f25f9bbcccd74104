"""A caller's IAM policy, read the way IAM reads it: a Deny whose Condition the engine cannot evaluate still
denies, ``[`` in a Resource is a bracket, a policy IAM would refuse does not grant, and a deleted role's session
is refused with API Gateway's IAM answer (403 ``AccessDeniedException``), not a 500. Each attack is a
``POST /jobs`` that must write nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.credentials import Credentials
from moto.backends import get_backend

from jobkit.sandbox import ACCOUNT
from tests.reliability.conftest import Sandbox
from tests.security.test_sigv4 import BODY, assert_refused, send, writes_nothing

INVOKE = "execute-api:Invoke"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}


def method_arn(sandbox: Sandbox, method: str, path: str) -> str:
    """The method ARN of ``path`` (``jobs``, ``jobs/x``) of the Jobs API's stage."""
    _, _, api_id, stage = urlsplit(sandbox.api.base_url).path.split("/")[:4]
    return f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/{stage}/{method}/{path}"


def role(sandbox: Sandbox, *statements: dict[str, Any], validated: bool = True) -> tuple[str, Credentials]:
    """A new role with one inline policy of ``statements``, and a session of it: (the session's ARN, its keys).
    ``validated=False`` stores the policy in moto's IAM directly, past the validation of ``PutRolePolicy``: how
    a document IAM would refuse could reach the engine's store."""
    iam = sandbox.deployment.client("iam")
    name = f"jobkit-attacker-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    if validated:
        iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=document)
    else:
        get_backend("iam")[ACCOUNT]["global"].get_role(name).put_policy("access", document)
    assumed = sandbox.deployment.client("sts").assume_role(RoleArn=arn, RoleSessionName="attacker")
    c = assumed["Credentials"]
    return assumed["AssumedRoleUser"]["Arn"], Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def not_authorized(principal: str, resource: str, *, explicit: bool = False) -> str:
    message = f"User: {principal} is not authorized to perform: {INVOKE} on resource: {resource}"
    if explicit:
        return message + " with an explicit deny"
    return message + f" because no identity-based policy allows the {INVOKE} action"


def test_a_deny_with_a_condition_still_denies(sandbox: Sandbox) -> None:
    """The engine evaluates no Condition: a Deny that might apply is applied (fail closed)."""
    resource = method_arn(sandbox, "POST", "jobs")
    principal, credentials = role(
        sandbox, {"Effect": "Allow", "Action": INVOKE, "Resource": "*"},
        {"Effect": "Deny", "Action": INVOKE, "Resource": resource,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, credentials=credentials)
    assert_refused(answer, 403, "AccessDeniedException", not_authorized(principal, resource, explicit=True),
                   key="Message")


def test_brackets_in_a_resource_are_literal(sandbox: Sandbox) -> None:
    """IAM's wildcards are ``*`` and ``?`` only: ``job[s]`` names a resource called ``job[s]``, not ``jobs``."""
    resource = method_arn(sandbox, "POST", "jobs")
    principal, credentials = role(sandbox, {"Effect": "Allow", "Action": INVOKE,
                                            "Resource": method_arn(sandbox, "POST", "job[s]")})
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, credentials=credentials)
    assert_refused(answer, 403, "AccessDeniedException", not_authorized(principal, resource), key="Message")


ALLOW_ALL = {"Effect": "Allow", "Action": INVOKE, "Resource": "*"}
INVALID = {
    # IAM's Effect is case-sensitive: a "deny" read as neither Allow nor Deny must not leave the Allow beside it
    # standing
    "a lower-case deny": [ALLOW_ALL, {"Effect": "deny", "Action": INVOKE, "Resource": "*"}],
    "an Allow without a Resource": [{"Effect": "Allow", "Action": INVOKE}],
    "an Allow without an Action": [{"Effect": "Allow", "Resource": "*"}],
}


@pytest.mark.parametrize("label", list(INVALID))
def test_a_policy_iam_would_refuse_grants_nothing(sandbox: Sandbox, label: str) -> None:
    principal, credentials = role(sandbox, *INVALID[label], validated=False)
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, credentials=credentials)
    assert_refused(answer, 403, "AccessDeniedException",
                   not_authorized(principal, method_arn(sandbox, "POST", "jobs")), key="Message")


def test_a_session_of_a_deleted_role_is_refused_403(sandbox: Sandbox) -> None:
    principal, credentials = role(sandbox, ALLOW_ALL)
    iam = sandbox.deployment.client("iam")
    name = principal.split("/")[1]
    iam.delete_role_policy(RoleName=name, PolicyName="access")
    iam.delete_role(RoleName=name)
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, credentials=credentials)
    assert_refused(answer, 403, "AccessDeniedException",
                   not_authorized(principal, method_arn(sandbox, "POST", "jobs")), key="Message")
