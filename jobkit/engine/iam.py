"""Identity-based policy evaluation for the engine's own checks (``execute-api:Invoke`` on a method ARN).

Rules: "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, otherwise some Allow must match, otherwise the request is implicitly denied. Action and
resource patterns use ``*`` and ``?`` wildcards; actions compare case-insensitively. Statements with a
Condition are not evaluated here and count as not matching (the stack has none on this path).
The message of a refusal follows "Control access to a REST API with IAM permissions"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from typing import Any

from moto.backends import get_backend


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _match(patterns: Iterable[str], value: str, *, case: bool) -> bool:
    if not case:
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def statement_applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Condition" in statement:
        return False
    if "Action" in statement and not _match(_as_list(statement["Action"]), action, case=False):
        return False
    if "NotAction" in statement and _match(_as_list(statement["NotAction"]), action, case=False):
        return False
    if "Resource" in statement and not _match(_as_list(statement["Resource"]), resource, case=True):
        return False
    return not ("NotResource" in statement and _match(_as_list(statement["NotResource"]), resource, case=True))


def is_allowed(documents: Iterable[dict[str, Any]], action: str, resource: str) -> bool:
    allowed = False
    for document in documents:
        for statement in _as_list(document.get("Statement", [])):
            if statement_applies(statement, action, resource):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def role_policies(account: str, role_arn: str) -> list[dict[str, Any]]:
    """The inline and attached customer-managed policy documents of a role, read from moto's IAM."""
    iam = get_backend("iam")[account]["global"]
    role = iam.get_role_by_arn(role_arn)
    documents = [json.loads(text) if isinstance(text, str) else text for text in role.policies.values()]
    for policy in role.managed_policies.values():
        version = policy.get_default_version() if hasattr(policy, "get_default_version") else None
        text = getattr(version, "document", None) or getattr(policy, "document", None)
        if text:
            documents.append(json.loads(text) if isinstance(text, str) else text)
    return documents


def not_authorized_message(principal_arn: str, action: str, resource: str) -> str:
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"


def sts_credentials(account: str) -> Any:
    """A lookup of the credentials moto's STS issued (AssumeRole), by access key id."""
    import datetime as dt

    from jobkit.engine.sigv4 import Credential

    def lookup(access_key_id: str) -> Credential | None:
        sts = get_backend("sts")[account]["global"]
        for assumed in reversed(sts.assumed_roles):
            if assumed.access_key_id == access_key_id:
                expiration = assumed.expiration
                if expiration.tzinfo is None:
                    expiration = expiration.replace(tzinfo=dt.UTC)
                return Credential(assumed.access_key_id, assumed.secret_access_key, assumed.session_token,
                                  assumed.arn, assumed.role_arn, expiration)
        return None

    return lookup
