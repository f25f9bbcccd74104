"""The engine's identity-based policy evaluation (``jobkit.engine.services.iam.policies``), on documents alone."""

from __future__ import annotations

from typing import Any

import pytest

from jobkit.engine.services.iam.policies import Decision, evaluate, not_authorized_message, role_policies

ACTION = "execute-api:Invoke"
API = "arn:aws:execute-api:us-east-1:000000000000:abc123/dev"
ARN = f"{API}/GET/jobs/7"


def statement(effect: str = "Allow", resource: Any = "*", action: Any = ACTION, **more: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **more}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def decide(*statements: dict[str, Any], resource: str = ARN, action: str = ACTION) -> Decision:
    return evaluate([policy(*statements)], action, resource)


def test_allow_explicit_deny_and_implicit_deny() -> None:
    assert decide(statement()) is Decision.ALLOW
    assert decide(statement(), statement("Deny", ARN)) is Decision.EXPLICIT_DENY
    assert decide(statement(resource=f"{API}/POST/jobs")) is Decision.IMPLICIT_DENY
    assert evaluate([], ACTION, ARN) is Decision.IMPLICIT_DENY


def test_a_deny_in_another_document_wins() -> None:
    assert evaluate([policy(statement()), policy(statement("Deny", ARN))], ACTION, ARN) is Decision.EXPLICIT_DENY


def test_a_deny_with_a_condition_counts_as_matching() -> None:
    condition = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    assert decide(statement(), statement("Deny", ARN, Condition=condition)) is Decision.EXPLICIT_DENY


def test_an_allow_with_a_condition_counts_as_not_matching() -> None:
    condition = {"Bool": {"aws:SecureTransport": "true"}}
    assert decide(statement(Condition=condition)) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(("pattern", "resource", "matches"), [
    (f"{API}/GET/jobs/[0-9]", ARN, False),  # brackets are literal, not a character class
    (f"{API}/GET/jobs/[0-9]", f"{API}/GET/jobs/[0-9]", True),
    (f"{API}/GET/jobs/?", ARN, True),
    (f"{API}/GET/jobs/?", f"{API}/GET/jobs/77", False),
    (f"{API}/GET/jobs/*", ARN, True),
    (f"{API}/*/jobs/7", ARN, True),  # * spans "/" within the segment
    (f"{API}/GET/JOBS/7", ARN, False),  # resources are case-sensitive
    ("arn:aws:execute-api:us-east-1:*:abc123/dev/GET/jobs/7", ARN, True),  # * ending a segment
    ("arn:aws:execute-api:*", ARN, True),  # * ending the pattern spans colons
    ("arn:aws:execute-api:us-*1:000000000000:abc123/dev/GET/jobs/7", ARN, True),
    ("arn:aws:execute-api:us-*:abc123/dev/GET/jobs/7", ARN, True),  # ending its segment, * may span colons
    ("arn:aws:execute-api:us*0:abc123/dev/GET/jobs/7", ARN, False),  # a mid-segment * stays within its segment
    ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/GET/jobs/.", ARN, False),  # regex characters: literal
    ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/GET/jobs/\\d", ARN, False),
])
def test_resource_patterns_know_only_star_and_question_mark(pattern: str, resource: str, matches: bool) -> None:
    assert (decide(statement(resource=pattern), resource=resource) is Decision.ALLOW) is matches


@pytest.mark.parametrize(("pattern", "matches"), [
    ("execute-api:Invoke", True), ("EXECUTE-API:invoke", True), ("execute-api:*", True), ("*", True),
    ("execute-api:Inv?ke", True), ("execute-api:[I]nvoke", False), ("execute-api:Invoke*", True),
    ("execute-api:ManageConnections", False),
])
def test_action_patterns_are_case_insensitive(pattern: str, matches: bool) -> None:
    assert (decide(statement(action=pattern)) is Decision.ALLOW) is matches


def test_not_action_and_not_resource() -> None:
    assert decide({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}) is Decision.ALLOW
    assert decide({"Effect": "Allow", "NotAction": "execute-api:*", "Resource": "*"}) is Decision.IMPLICIT_DENY
    assert decide(statement(), {"Effect": "Deny", "Action": "*", "NotResource": f"{API}/GET/*"}) is Decision.ALLOW
    assert decide(statement(), {"Effect": "Deny", "Action": "*", "NotResource": f"{API}/POST/*"}) \
        is Decision.EXPLICIT_DENY


INVALID: dict[str, Any] = {
    "no Action or NotAction": {"Effect": "Allow", "Resource": "*"},
    "no Resource or NotResource": {"Effect": "Allow", "Action": ACTION},
    "Action and NotAction": {"Effect": "Allow", "Action": ACTION, "NotAction": "s3:*", "Resource": "*"},
    "Resource and NotResource": {"Effect": "Allow", "Action": ACTION, "Resource": "*", "NotResource": "x"},
    "lower-case effect": {"Effect": "deny", "Action": ACTION, "Resource": ARN},
    "no Effect": {"Action": ACTION, "Resource": "*"},
    "a Principal": {"Effect": "Allow", "Principal": "*", "Action": ACTION, "Resource": "*"},
    "an empty Action list": {"Effect": "Allow", "Action": [], "Resource": "*"},
    "a non-string Resource": {"Effect": "Allow", "Action": ACTION, "Resource": [{"Ref": "x"}]},
    "not an object": "Allow everything",
}


@pytest.mark.parametrize("label", list(INVALID))
def test_a_statement_iam_would_refuse_denies_the_request(label: str) -> None:
    """Even next to an Allow that covers the request: the invalid statement might have been its author's Deny."""
    assert evaluate([policy(statement()), policy(INVALID[label])], ACTION, ARN) is Decision.INVALID_POLICY


@pytest.mark.parametrize("document", [{}, {"Statement": []}, "not a document", None])
def test_a_document_without_statements_denies_the_request(document: Any) -> None:
    assert evaluate([policy(statement()), document], ACTION, ARN) is Decision.INVALID_POLICY


def test_a_single_statement_object_is_a_statement_list() -> None:
    assert evaluate([{"Version": "2012-10-17", "Statement": statement()}], ACTION, ARN) is Decision.ALLOW


def test_a_role_that_does_not_exist_has_no_policies() -> None:
    assert role_policies("000000000000", "arn:aws:iam::000000000000:role/jobkit-no-such-role") == []


def test_an_explicit_deny_says_so() -> None:
    principal = "arn:aws:sts::000000000000:assumed-role/R/s"
    base = f"User: {principal} is not authorized to perform: {ACTION} on resource: {ARN}"
    implicit = not_authorized_message(principal, ACTION, ARN, Decision.IMPLICIT_DENY)
    assert implicit == f"{base} because no identity-based policy allows the {ACTION} action"
    assert not_authorized_message(principal, ACTION, ARN, Decision.EXPLICIT_DENY) == base + " with an explicit deny"
    assert not_authorized_message(principal, ACTION, ARN, Decision.INVALID_POLICY) == implicit
