"""An explicit Deny on one method ARN, stepped around by spelling its path otherwise.

A caller is allowed ``execute-api:Invoke`` on everything but ``GET /jobs/secret`` and ``POST /jobs``, both
denied by name. A path the gateway would route to one of those resources (a trailing slash, an empty segment,
a percent-encoded slash) must not reach it under another method ARN: such a path is refused as API Gateway
refuses a path no resource matches, and nothing is written. Each request is sent byte for byte (no client
normalises it on the way) and signed over exactly what is sent, as an attacker's own signer would.
"""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials

from tests.reliability.conftest import Sandbox
from tests.security.test_iam import INVOKE, method_arn, role
from tests.security.test_sigv4 import BODY, assert_refused, send, writes_nothing


@pytest.fixture(scope="module")
def fenced(sandbox: Sandbox) -> tuple[str, Credentials]:
    """(session ARN, keys) of a caller denied ``GET /jobs/secret`` and ``POST /jobs``, allowed all else."""
    return role(sandbox, {"Effect": "Allow", "Action": INVOKE, "Resource": "*"},
                {"Effect": "Deny", "Action": INVOKE,
                 "Resource": [method_arn(sandbox, "GET", "jobs/secret"), method_arn(sandbox, "POST", "jobs")]})


@pytest.mark.control
def test_the_fence_stands_on_the_plain_paths(sandbox: Sandbox, fenced: tuple[str, Credentials]) -> None:
    principal, credentials = fenced
    answer = send(sandbox, "GET", "jobs/secret", credentials=credentials)
    assert answer.status == 403, answer
    assert answer.headers.get("x-amzn-errortype") == "AccessDeniedException", answer
    assert answer.json()["Message"].startswith(f"User: {principal} is not authorized"), answer
    assert send(sandbox, "GET", "jobs/other", credentials=credentials).status == 404  # allowed: no such job


@pytest.mark.parametrize("spelling", ["jobs/secret/", "jobs//secret", "jobs/secret//", "jobs/secret%2F",
                                      "jobs%2F%2Fsecret"])
def test_a_denied_get_is_not_reached_by_another_spelling(sandbox: Sandbox, fenced: tuple[str, Credentials],
                                                         spelling: str) -> None:
    answer = send(sandbox, "GET", spelling, credentials=fenced[1])
    assert_refused(answer, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")


@pytest.mark.parametrize("spelling", ["jobs/", "jobs//", "jobs%2F"])
def test_a_denied_post_is_not_reached_by_another_spelling(sandbox: Sandbox, fenced: tuple[str, Credentials],
                                                          spelling: str) -> None:
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", spelling, BODY, credentials=fenced[1])
    assert_refused(answer, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")

