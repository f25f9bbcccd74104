"""Signatures that are valid, but not for this request: another body, another service, region or day, headers
left out of the signature, bytes the verifier did not expect. Each is refused 403 with API Gateway's error type,
and nothing is written.

The attacker signs with a signer of their own (``sign``): SigV4 done by hand, over exactly the bytes sent, with
whatever scope, signed headers and payload hash they choose. The credentials are the invoke role's, allowed to
``POST /jobs``: every request below would have created a job if its signature had been accepted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import Credentials

from tests.reliability.conftest import Sandbox, table_count
from tests.security.wire import Answer, exchange, request

JSON = "application/json"
BODY = json.dumps({"seconds": 1}).encode()


def sign(method: str, target: str, headers: dict[str, str], body: bytes, credentials: Credentials, *,
         service: str = "execute-api", region: str = "us-east-1", scope_date: str | None = None,
         unsigned: tuple[str, ...] = (), payload_hash: str | None = None) -> dict[str, str]:
    """``headers`` plus X-Amz-Date, X-Amz-Security-Token and an Authorization signing the request exactly as
    sent: ``target`` (path and query) is not normalised, every header is signed but those named in ``unsigned``,
    the scope's date is ``scope_date`` if given, the payload hash ``payload_hash`` if given."""
    now = dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {**headers, "X-Amz-Date": amz_date}
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    named = sorted((k.lower(), " ".join(v.split())) for k, v in headers.items() if k.lower() not in unsigned)
    path, _, query = target.partition("?")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True))
    canonical = "\n".join([
        method, quote(path, safe="/~"), "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{k}:{v}\n" for k, v in named), ";".join(k for k, _ in named),
        payload_hash or hashlib.sha256(body).hexdigest()])
    scope = f"{scope_date or amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + credentials.secret_key).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(k for k, _ in named)}, Signature={signature}")
    return headers


def api_path(sandbox: Sandbox, path: str) -> str:
    """The engine's path of the Jobs API's resource ``path`` (``jobs``, ``jobs/x``), spelled as given."""
    return urlsplit(sandbox.api.base_url).path + path


def send(sandbox: Sandbox, method: str, path: str, body: bytes = b"", *, credentials: Credentials | None = None,
         headers: dict[str, str] | None = None, service: str = "execute-api", region: str = "us-east-1",
         scope_date: str | None = None, unsigned: tuple[str, ...] = (), payload_hash: str | None = None) -> Answer:
    """One request to the Jobs API, byte for byte as given (``path`` is not normalised on the way), signed by
    ``sign`` with ``credentials`` (the invoke role's unless given)."""
    port = port_of(sandbox)
    target = api_path(sandbox, path)
    fields = {"Host": f"127.0.0.1:{port}", **({"Content-Type": JSON} if body else {}), **(headers or {})}
    signed = sign(method, target, fields, body, credentials or _invoke_credentials(sandbox), service=service,
                  region=region, scope_date=scope_date, unsigned=unsigned, payload_hash=payload_hash)
    return exchange(port, request(method, target, body, signed))


def port_of(sandbox: Sandbox) -> int:
    server = sandbox.engine.server
    assert server is not None
    return server.port


def _invoke_credentials(sandbox: Sandbox) -> Credentials:
    credentials = sandbox.api.credentials
    assert credentials is not None
    return credentials


def assert_refused(answer: Answer, status: int, error_type: str, message: str, *, key: str = "message") -> None:
    assert answer.status == status, answer
    assert answer.headers.get("x-amzn-errortype") == error_type, answer
    assert answer.json() == {key: message}, answer


@contextlib.contextmanager
def writes_nothing(sandbox: Sandbox) -> Iterator[None]:
    """The jobs table holds as many items after the block as before it (an engine no one else writes to)."""
    before = table_count(sandbox.deployment)
    yield
    assert table_count(sandbox.deployment) == before, "a refused request wrote to the jobs table"


@pytest.mark.control
def test_a_correctly_signed_request_is_answered(sandbox: Sandbox) -> None:
    """The signer above is right: what the attacks change is all that makes them fail."""
    answer = send(sandbox, "POST", "jobs", BODY)
    assert answer.status == 200, answer
    assert "id" in answer.json()


# --- (3) the body: hashed from the bytes received ------------------------------------------------------------
def test_a_captured_post_cannot_carry_another_body(sandbox: Sandbox) -> None:
    """The signature covers ``x-amz-content-sha256`` (the hash of the signed body); the body sent is another."""
    signed_hash = hashlib.sha256(BODY).hexdigest()
    swapped = json.dumps({"seconds": 300, "fault": "swapped"}).encode()
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", swapped, headers={"X-Amz-Content-SHA256": signed_hash},
                      payload_hash=signed_hash)
    assert_refused(answer, 403, "InvalidSignatureException",
                   "The provided 'x-amz-content-sha256' header does not match what was computed.")


def test_unsigned_payload_does_not_let_any_body_through(sandbox: Sandbox) -> None:
    """``UNSIGNED-PAYLOAD`` is an S3 option: for execute-api the body is always hashed."""
    body = json.dumps({"seconds": 300, "fault": "anything"}).encode()
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", body, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
                      payload_hash="UNSIGNED-PAYLOAD")
    assert_refused(answer, 403, "InvalidSignatureException",
                   "The provided 'x-amz-content-sha256' header does not match what was computed.")


# --- (6) the scope, the signed headers, the bytes of the header -----------------------------------------------
def test_a_signature_for_another_service_is_refused(sandbox: Sandbox) -> None:
    """A signature made for DynamoDB (by a caller allowed to invoke the API) is not one for the API."""
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, service="dynamodb")
    assert_refused(answer, 403, "InvalidSignatureException",
                   "Credential should be scoped to correct service: 'execute-api'. ")


def test_a_signature_for_another_region_is_refused(sandbox: Sandbox) -> None:
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, region="eu-west-1")
    assert_refused(answer, 403, "InvalidSignatureException",
                   "Credential should be scoped to a valid region, not 'eu-west-1'. ")


def test_a_signature_scoped_to_another_day_is_refused(sandbox: Sandbox) -> None:
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y%m%d")
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, scope_date=yesterday)
    assert answer.status == 403, answer
    assert answer.headers.get("x-amzn-errortype") == "InvalidSignatureException", answer
    assert answer.json()["message"].startswith(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{yesterday}' != '"), answer


@pytest.mark.parametrize(("header", "message"), [
    ("host", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    ("x-amz-date", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."),
])
def test_host_and_date_must_be_signed(sandbox: Sandbox, header: str, message: str) -> None:
    """Unsigned, the Host lets a signature be replayed against another endpoint, the date at another time."""
    with writes_nothing(sandbox):
        answer = send(sandbox, "POST", "jobs", BODY, unsigned=(header,))
    assert_refused(answer, 403, "InvalidSignatureException", message)


@pytest.mark.parametrize("signature", ["é" * 64, "\u2603", "0" * 63 + "\u00ff"])
def test_a_non_ascii_signature_is_a_403_not_a_500(sandbox: Sandbox, signature: str) -> None:
    port = port_of(sandbox)
    target = api_path(sandbox, "jobs")
    fields = sign("POST", target, {"Host": f"127.0.0.1:{port}", "Content-Type": JSON}, BODY,
                  _invoke_credentials(sandbox))
    real = fields["Authorization"].rsplit("Signature=", 1)[1]
    # the header's bytes as UTF-8 (the wire module writes header text as latin-1, one byte per character)
    fields["Authorization"] = fields["Authorization"].replace(real, signature.encode().decode("latin-1"))
    with writes_nothing(sandbox):
        answer = exchange(port, request("POST", target, BODY, fields))
    assert answer.status == 403, answer
    assert answer.headers.get("x-amzn-errortype") == "InvalidSignatureException", answer
    assert answer.json()["message"].startswith("The request signature we calculated does not match the signature "
                                               "you provided."), answer
