"""Cross-origin requests, DNS rebinding and moto's admin API: a web page open in the developer's browser must
not reach the sandbox through port 4566."""

from __future__ import annotations

import pytest
import requests

from tests.reliability.conftest import Sandbox
from tests.security.wire import exchange, request

EVIL = "http://evil.example"


def _tables(sandbox: Sandbox) -> list[str]:
    return list(sandbox.deployment.client("dynamodb").list_tables()["TableNames"])


def test_a_foreign_page_cannot_reset_the_sandbox(sandbox: Sandbox) -> None:
    before = _tables(sandbox)
    assert sandbox.deployment["JobsTableName"] in before
    answer = requests.post(f"{sandbox.engine.endpoint_url}/moto-api/reset", headers={"Origin": EVIL}, timeout=10)
    assert answer.status_code == 403, answer.text
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "JOBKIT_CORS_ALLOWED_ORIGINS" in answer.json()["message"]
    assert _tables(sandbox) == before, "the sandbox was wiped"


@pytest.mark.parametrize("path", ["/moto-api/data.json", "/moto-api/reset", "/moto%2Dapi/data.json",
                                  "/moto-apiX", "//moto-api/data.json"])
def test_motos_admin_api_is_not_served(sandbox: Sandbox, path: str) -> None:
    """``data.json`` holds every stored secret (the STS keys the engine issued); ``reset`` wipes everything."""
    before = _tables(sandbox)
    answer = exchange(sandbox.engine.server.port, request("POST" if "reset" in path else "GET", path))
    assert answer.status in (400, 404), answer
    assert b"SecretAccessKey" not in answer.body and b"secret_access_key" not in answer.body
    if answer.status == 404:
        assert "JOBKIT_MOTO_API" in answer.json()["message"]
    assert _tables(sandbox) == before


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4566", "127.0.0.1.evil.example", "localhost.evil",
                                  "", "[::2]"])
def test_a_rebound_dns_name_is_refused(sandbox: Sandbox, host: str) -> None:
    """DNS rebinding: a page's own name resolved to 127.0.0.1 is same-origin to the browser; its Host gives it away."""
    answer = requests.get(f"{sandbox.engine.endpoint_url}/_localstack/health", headers={"Host": host}, timeout=10)
    assert answer.status_code == 403, answer.text
    assert "JOBKIT_ALLOWED_HOSTS" in answer.json()["message"]


def _list_tables(sandbox: Sandbox, headers: dict[str, str]) -> requests.Response:
    """DynamoDB ListTables as any SDK sends it (moto, behind the engine, does not check the signature)."""
    return requests.post(sandbox.engine.endpoint_url, data=b"{}", timeout=10, headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=00", "X-Amz-Date": "20261207T000000Z", **headers})


def test_a_rebound_name_cannot_call_an_aws_api(sandbox: Sandbox) -> None:
    assert _list_tables(sandbox, {}).status_code == 200  # the same call from a local name is answered
    answer = _list_tables(sandbox, {"Host": "evil.example:4566"})
    assert answer.status_code == 403, answer.text
    assert sandbox.deployment["JobsTableName"] not in answer.text


def test_a_foreign_origin_cannot_call_an_aws_api_and_gets_no_cors_headers(sandbox: Sandbox) -> None:
    answer = _list_tables(sandbox, {"Origin": EVIL})
    assert answer.status_code == 403, answer.text
    assert sandbox.deployment["JobsTableName"] not in answer.text
    assert not [k for k in answer.headers if k.lower().startswith("access-control-")], dict(answer.headers)


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Referer": f"{EVIL}/page.html"},
    {"Origin": "null"},  # a sandboxed frame or a file:// page
    {"Origin": "http://localhost.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},  # a browser that sent neither (Referrer-Policy: no-referrer)
])
def test_a_foreign_page_cannot_move_the_sandbox_clock(sandbox: Sandbox, headers: dict[str, str]) -> None:
    url = f"{sandbox.engine.endpoint_url}/_jobkit/clock"
    before = requests.get(url, timeout=10).json()["now"]
    answer = requests.post(url, json={"advance": 3600}, headers=headers, timeout=10)
    assert answer.status_code == 403, answer.text
    assert requests.get(url, timeout=10).json()["now"] - before < 600, "the clock moved"


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Referer": f"{EVIL}/page.html"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
])
def test_a_foreign_page_cannot_clear_the_sandbox_s_data(sandbox: Sandbox, headers: dict[str, str]) -> None:
    """``POST /_jobkit/reset`` keeps the resources, but the data a developer is looking at would be gone."""
    ssm = sandbox.deployment.client("ssm")
    plan = f"{sandbox.deployment['FaultPlanPrefix']}front-door-kept"
    ssm.put_parameter(Name=plan, Type="String", Value="{}", Overwrite=True)
    answer = requests.post(f"{sandbox.engine.endpoint_url}/_jobkit/reset", headers=headers, timeout=10)
    assert answer.status_code == 403, answer.text
    assert ssm.get_parameter(Name=plan)["Parameter"]["Value"] == "{}", "the sandbox was reset"


def test_a_foreign_preflight_gets_no_allow_headers(sandbox: Sandbox) -> None:
    answer = requests.options(f"{sandbox.engine.endpoint_url}/", timeout=10, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-amz-target"})
    assert answer.status_code == 403
    assert not [k for k in answer.headers if k.lower().startswith("access-control-allow")], dict(answer.headers)


def test_a_request_target_in_absolute_form_is_refused(sandbox: Sandbox) -> None:
    """The engine is not a proxy: an absolute target's host would otherwise stand in for the Host header."""
    answer = exchange(sandbox.engine.server.port, request("GET", "http://evil.example/moto-api/data.json"))
    assert answer.status == 400, answer
    assert b"SecretAccessKey" not in answer.body


@pytest.mark.control
def test_a_local_page_is_answered_with_cors_headers(sandbox: Sandbox) -> None:
    """Not an attack: what the refusals must leave working (a local web app using the AWS SDK for JavaScript)."""
    origin = "http://localhost:3000"
    preflight = requests.options(f"{sandbox.engine.endpoint_url}/", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-amz-target"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "x-amz-target" in preflight.headers["Access-Control-Allow-Headers"]
    health = requests.get(f"{sandbox.engine.endpoint_url}/_localstack/health", headers={"Origin": origin}, timeout=10)
    assert health.status_code == 200
    assert health.headers["Access-Control-Allow-Origin"] == origin
