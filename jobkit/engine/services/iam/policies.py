"""Identity-based policy evaluation for the engine's own checks (``execute-api:Invoke`` on a method ARN).

Rules: "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, otherwise some Allow must match, otherwise the request is implicitly denied. Where the
engine cannot decide as IAM would, it decides against the caller:

- Conditions are not evaluated. A Deny with a Condition counts as matching (its condition might hold), an Allow
  with one as not matching (its condition might not).
- A statement IAM would have refused to store denies the request: ``Effect`` is ``Allow`` or ``Deny``,
  case-sensitive ("IAM JSON policy elements: Effect",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_effect.html); a statement has
  an ``Action`` or a ``NotAction`` and a ``Resource`` or a ``NotResource`` (the Action and Resource pages below),
  and no ``Principal`` in an identity-based policy. Ignoring only that statement, or its whole document, could
  drop a Deny its author meant; such a document cannot have come through IAM's own API (``PutRolePolicy``
  validates it), so nothing legitimate is refused by this.
- A role that does not exist (deleted while a session of it lives on) has no policies: implicitly denied.

Patterns know two wildcards, ``*`` and ``?``; every other character is literal ("IAM JSON policy elements:
Action", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html: actions are
case-insensitive; "IAM JSON policy elements: Resource",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html: resources are
case-sensitive, and a wildcard stays within its colon-separated ARN segment unless ``*`` ends the segment).

The message of a refusal follows "Control access to a REST API with IAM permissions"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html); an explicit deny adds
" with an explicit deny", as "How do I troubleshoot HTTP 403 Forbidden errors when using a Lambda authorizer
with an API Gateway REST API?" (https://repost.aws/knowledge-center/api-gateway-403-error-lambda-authorizer)
shows API Gateway's answers.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from moto.backends import get_backend
from moto.iam.exceptions import NotFoundException


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"
    INVALID_POLICY = "invalid policy"  # a statement IAM would not have stored: denied, reported as not authorized


class _Invalid(Exception):
    """A policy document or statement IAM would have refused."""


_EFFECTS = ("Allow", "Deny")


@functools.lru_cache(maxsize=4096)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.ASCII | re.DOTALL)


@functools.lru_cache(maxsize=4096)
def _resource_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for index, c in enumerate(pattern):
        if c == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if ends_segment else "[^:]*")
        elif c == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def _patterns(statement: dict[str, Any], key: str) -> list[str]:
    value = statement[key]
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise _Invalid(f"{key} must be a string or a non-empty list of strings")
    return values


def _element(statement: dict[str, Any], positive: str, negative: str) -> tuple[list[str], bool]:
    """The patterns of ``positive`` or ``negative`` (exactly one must be there), and whether they are negated."""
    if (positive in statement) == (negative in statement):
        raise _Invalid(f"a statement needs exactly one of {positive} and {negative}")
    return (_patterns(statement, positive), False) if positive in statement else (_patterns(statement, negative), True)


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement's action and resource elements cover the request; _Invalid if IAM would refuse it."""
    if not isinstance(statement, dict):
        raise _Invalid("a statement must be an object")
    if statement.get("Effect") not in _EFFECTS:
        raise _Invalid("Effect must be Allow or Deny")
    if "Principal" in statement or "NotPrincipal" in statement:
        raise _Invalid("an identity-based policy names no principal")
    actions, not_action = _element(statement, "Action", "NotAction")
    resources, not_resource = _element(statement, "Resource", "NotResource")
    action_hit = any(_action_pattern(p).fullmatch(action) for p in actions)
    resource_hit = any(_resource_pattern(p).fullmatch(resource) for p in resources)
    return action_hit != not_action and resource_hit != not_resource


def _statements(document: Any) -> list[Any]:
    if not isinstance(document, dict) or "Statement" not in document:
        raise _Invalid("a policy document needs a Statement")
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    if not statements:
        raise _Invalid("a policy document needs a statement")
    return statements


def evaluate(documents: Iterable[Any], action: str, resource: str) -> Decision:
    """IAM's decision on ``action`` on ``resource`` for a principal with these identity-based policies."""
    allowed = False
    denied = False
    try:
        for document in documents:
            for statement in _statements(document):
                if not _matches(statement, action, resource):
                    continue
                if statement["Effect"] == "Deny":
                    denied = True  # with or without a Condition: it might hold
                elif "Condition" not in statement:
                    allowed = True  # an Allow whose Condition might not hold counts as not matching
    except _Invalid:
        return Decision.INVALID_POLICY
    if denied:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def role_policies(account: str, role_arn: str) -> list[dict[str, Any]]:
    """The inline and attached managed policy documents of a role, read from moto's IAM; none for a role that
    no longer exists."""
    iam = get_backend("iam")[account]["global"]
    try:
        role = iam.get_role_by_arn(role_arn)
    except NotFoundException:
        return []
    documents = [json.loads(text) if isinstance(text, str) else text for text in role.policies.values()]
    for policy in role.managed_policies.values():
        version = policy.get_default_version() if hasattr(policy, "get_default_version") else None
        text = getattr(version, "document", None) or getattr(policy, "document", None)
        if text:
            documents.append(json.loads(text) if isinstance(text, str) else text)
    return documents


def not_authorized_message(principal_arn: str, action: str, resource: str, decision: Decision) -> str:
    """API Gateway's words for an IAM refusal, each decision its own: "... with an explicit deny" ("How do I
    troubleshoot HTTP 403 errors from API Gateway?",
    https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden), and for a caller no policy allows
    "... because no identity-based policy allows the execute-api:Invoke action" ("How do I troubleshoot signature
    mismatch errors ... with IAM authentication to API Gateway?",
    https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch). A policy IAM would refuse allows
    nothing: the caller is told as one no policy allows."""
    message = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if decision is Decision.EXPLICIT_DENY:
        return message + " with an explicit deny"
    return f"{message} because no identity-based policy allows the {action} action"
