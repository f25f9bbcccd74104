"""Hostile input and access against the embedded engine's Jobs API.

Bad bodies and odd ids: always a 4xx with a ``message``, never a 5xx, and nothing written (the table's
item count, on an engine no one else uses, is unchanged). Unsigned, tampered, expired and other-principal
requests: 403 each, counted.

Payload limit: a REST API's payload is at most 10 MB, a hard quota ("Amazon API Gateway quotas",
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); a bigger request is answered
413 (re:Post, "error 413 request entity too large sending file as param to apigateway").
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from botocore.credentials import Credentials

from jobkit.client.jobs_api import ApiResponse
from tests.reliability.conftest import Sandbox, table_count

JSON = {"Content-Type": "application/json"}
TEN_MB = 10 * 1024 * 1024
DEPTH = 10_000


@pytest.fixture
def unchanged_table(sandbox: Sandbox) -> Iterator[None]:
    """Nothing written: the table holds as many items after the test as before it."""
    before = table_count(sandbox.deployment)
    yield
    assert table_count(sandbox.deployment) == before, "a hostile request wrote to the jobs table"


def assert_refused(answer: ApiResponse, label: str, *, key: str = "message") -> None:
    assert 400 <= answer.status < 500, f"{label}: {answer.status} {answer.text[:200]!r}"
    message = answer.body.get(key) if isinstance(answer.body, dict) else None
    assert isinstance(message, str) and message.strip(), f"{label}: no {key!r} in {answer.text[:200]!r}"


BODIES: dict[str, bytes] = {
    "non-UTF-8 bytes in a string": b'{"seconds": 1, "x": "\xff\xfe\xc3"}',
    "non-UTF-8 bytes only": b"\xff\xfe\x00\x01\x80",
    "seconds 1e30": b'{"seconds": 1e30}',
    "seconds 2**64": json.dumps({"seconds": 2**64}).encode(),
    "seconds 1e400 (inf)": b'{"seconds": 1e400}',
    "seconds NaN": b'{"seconds": NaN}',
    "seconds -1": b'{"seconds": -1}',
    "seconds as a string": b'{"seconds": "1"}',
    "empty body": b"",
    "JSON null": b"null",
    "oversized, invalid (11 MB string field)": b'{"seconds": 1, "x": "' + b"a" * (11 * 1024 * 1024) + b'"}',
}


@pytest.mark.parametrize("label", list(BODIES))
def test_a_bad_body_is_refused_with_a_message_and_writes_nothing(
        sandbox: Sandbox, unchanged_table: None, label: str) -> None:
    assert_refused(sandbox.api.request("POST", "jobs", BODIES[label], headers=JSON), label)


def test_an_oversized_body_is_refused_413_and_writes_nothing(sandbox: Sandbox) -> None:
    before = table_count(sandbox.deployment)
    body = b'{"seconds": 1}' + b" " * (TEN_MB + 1024 * 1024)
    answer = sandbox.api.request("POST", "jobs", body, headers=JSON)
    assert table_count(sandbox.deployment) == before, (answer.status, answer.text[:200])
    assert answer.status == 413, (answer.status, answer.text[:200])
    assert_refused(answer, "11 MB body")


@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_json_is_refused_with_a_message(sandbox: Sandbox, unchanged_table: None, shape: str) -> None:
    if shape == "array":
        body = "[" * DEPTH + "]" * DEPTH
    else:
        body = '{"seconds": 1, "a": ' + '{"a": ' * DEPTH + "1" + "}" * DEPTH + "}"
    assert_refused(sandbox.api.request("POST", "jobs", body, headers=JSON), f"{DEPTH} levels ({shape})")


ODD_IDS = {
    "blank": " ",
    "tab": "\t",
    "2,100 chars": "a" * 2100,
    "unicode": "ünï©ødé✓-日本",
    "dot-dot slash": "../..",
    "dot-dot": "..",
    "NUL": "\x00",
    "percent NUL": "%00",
    "quotes": "'\"",
    "injection": '"; DROP TABLE jobs; --',
    "percent": "%",
    "braces": "{jobId}",
}


@pytest.mark.parametrize("label", list(ODD_IDS))
def test_an_odd_id_is_refused_with_a_message_never_a_5xx(sandbox: Sandbox, unchanged_table: None, label: str) -> None:
    # as a client sends it: the id percent-encoded as one path segment (JobsApi.get)
    assert_refused(sandbox.api.get(ODD_IDS[label]), label)


@pytest.mark.parametrize("path", ["jobs/", "jobs//", "jobs/..%2F..%2Fetc", "jobs/a/b", "jobs/%2e%2e"])
def test_an_odd_path_is_refused_with_a_message(sandbox: Sandbox, unchanged_table: None, path: str) -> None:
    assert_refused(sandbox.api.request("GET", path), path)


def test_a_raw_dot_dot_path_is_refused_with_a_message(sandbox: Sandbox, unchanged_table: None) -> None:
    assert_refused(sandbox.api.request("GET", "jobs/../.."), "jobs/../..")


def _role_credentials(sandbox: Sandbox, fragment: str) -> Credentials:
    """Credentials of one of the stack's roles (not the invoke role), assumed through the engine's STS."""
    deployment = sandbox.deployment
    roles = [r["Arn"] for r in deployment.client("iam").list_roles()["Roles"] if fragment in r["Arn"]]
    assert len(roles) == 1, roles
    c = deployment.client("sts").assume_role(RoleArn=roles[0], RoleSessionName="hostile")["Credentials"]
    return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def test_unsigned_tampered_expired_and_other_principals_get_403(sandbox: Sandbox, unchanged_table: None) -> None:
    api = sandbox.api
    stale = datetime.now(UTC) - timedelta(minutes=20)
    execution = _role_credentials(sandbox, "JobsAPIExecutionRole")  # API Gateway's own role: may not invoke
    processor = _role_credentials(sandbox, "Consumer1FunctionServiceRole")
    unknown = Credentials("AKIAJOBKITUNKNOWN000", "not-a-secret")
    body = json.dumps({"seconds": 1})
    variants: dict[str, dict[str, Any]] = {
        "unsigned": {"sign": False},
        "tampered": {"tamper": True},
        "expired": {"signed_at": stale},
        "signed in the future": {"signed_at": datetime.now(UTC) + timedelta(minutes=20)},
        "execution role": {"credentials": execution},
        "processor's role": {"credentials": processor},
        "unknown access key": {"credentials": unknown},
    }
    cases: dict[str, ApiResponse] = {}
    for method, path, payload in (("GET", "jobs/some-job", None), ("POST", "jobs", body)):
        for label, options in variants.items():
            cases[f"{method} {label}"] = api.request(method, path, payload, headers=JSON, **options)
    refused = Counter(answer.status for answer in cases.values())
    print(f"access refusals: {dict(refused)} of {len(cases)} requests")
    for label, answer in cases.items():
        assert answer.status == 403, f"{label}: {answer.status} {answer.text[:200]!r}"
        # A principal that is authenticated but not allowed gets API Gateway's AccessDeniedException, whose
        # key is "Message" (capital M), as AWS answers it; every other refusal says "message".
        denied = "role" in label
        assert_refused(answer, label, key="Message" if denied else "message")
    assert refused == {403: 14}
    # the same requests, signed by the invoke role, are answered: the refusals above are about access
    assert api.get("some-job").status == 404


def test_the_refusals_left_the_sandbox_working(sandbox: Sandbox) -> None:
    job = sandbox.api.submit(1)
    seen = sandbox.api.wait_until_settled(job, sandbox.deployment.consumer_ids(), timeout=30)
    assert {v["status"] for v in seen.values()} == {"Success"}


def test_quote_is_what_the_client_sends() -> None:
    # the ids above reach the engine percent-encoded as one path segment, as JobsApi.get sends them
    assert quote("../..", safe="") == "..%2F.."
