"""jobkit.fuzz runs offline and reports correctly, against a tiny local server that answers like the Jobs API.

The server checks every SigV4 signature itself (botocore's signer, same credentials), so a run with no
403 proves each generated request was signed on the bytes it sent.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jobkit.deploy.template import Template
from jobkit.fuzz import SigV4RequestAuth, fuzz, has_message
from jobkit.openapi import openapi_document

REGION = "us-east-1"
CREDENTIALS = Credentials("AKIDJOBKITFUZZ", "fuzz-secret")
KNOWN_JOB = "job-1"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/[^,]+, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


def signature_error(method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
    """Why the request's SigV4 signature is wrong (recomputed here), or None when it is right."""
    match = _AUTH.fullmatch(headers.get("authorization", ""))
    if match is None:
        return "Missing Authentication Token"
    key, signed, signature = match.groups()
    if key != CREDENTIALS.access_key:
        return "The security token included in the request is invalid."
    names = signed.split(";")
    request = AWSRequest(
        method=method, url=f"http://{headers['host']}{path}", data=body, headers={n: headers[n] for n in names}
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(CREDENTIALS, "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if signer.signed_headers(signer.headers_to_sign(request)) != signed or expected != signature:
        return "The request signature we calculated does not match the signature you provided."
    return None


@dataclass
class FakeJobsApi:
    """Answers like the Jobs API: 403 unsigned, 415 not JSON, 400 invalid body, 200/404 otherwise.

    ``broken`` turns it into a buggy API: 400 without a message and a 500 on every GET.
    """

    body_schema: dict[str, Any]
    broken: bool = False

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        error = signature_error(method, path, headers, body)
        if error is not None:
            return 403, json.dumps({"message": error}).encode()
        if method == "POST" and path.rstrip("/").endswith("/jobs"):
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return 415, b'{"message": "Unsupported Media Type"}'
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            if document is None or not jsonschema.Draft4Validator(self.body_schema).is_valid(document):
                return (400, b"bad") if self.broken else (400, b'{"message": "Invalid request body"}')
            return 200, b'{"id": "1f0e9a4e-1c5e-4f7f-9a0b-1d2c3b4a5f6e"}'
        if method == "GET" and "/jobs/" in path:
            if self.broken:
                return 500, b"Internal Server Error"
            job_id = unquote(path.split("/jobs/", 1)[1])
            if job_id == KNOWN_JOB:
                return 200, b'{"consumer_1": {"status": "Success", "results": "I slept for 1 seconds"}}'
            return 404, b'{"message": "Job not found"}'
        return 403, b'{"message": "Missing Authentication Token"}'


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start FakeJobsApi instances on free ports; the base URL mirrors a stage URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(api: FakeJobsApi) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = api.answer(self.command, self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/restapis/abc123/dev/_user_request_/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def body_schema(template: Template) -> dict[str, Any]:
    schema: dict[str, Any] = openapi_document(template, "http://x")["components"]["schemas"]["JobsRequest"]
    return schema


def test_signed_fuzzing_reaches_behind_the_signature_and_finds_nothing(
    serve: Any, template: Template, body_schema: dict[str, Any]
) -> None:
    base_url = serve(FakeJobsApi(body_schema))
    summary = fuzz(openapi_document(template, base_url), base_url, CREDENTIALS, region=REGION, max_examples=15, seed=7)
    assert summary.ok, "\n".join(summary.lines())
    assert summary.requests == sum(summary.statuses.values()) > 0
    assert set(summary.by_operation) == {"POST /jobs", "GET /jobs/{jobId}"}
    assert 403 not in summary.statuses, "a generated request was not signed on the bytes it sent"
    assert {200, 400, 404} <= set(summary.statuses), summary.statuses  # valid jobs, refused bodies, unknown ids
    assert summary.requests <= 2 * 2 * (15 + 5)  # bounded: operations x modes x examples (+ explicit ones)


def test_a_buggy_api_is_reported_not_raised(serve: Any, template: Template, body_schema: dict[str, Any]) -> None:
    base_url = serve(FakeJobsApi(body_schema, broken=True))
    summary = fuzz(openapi_document(template, base_url), base_url, CREDENTIALS, region=REGION, max_examples=10, seed=7)
    assert not summary.ok
    assert summary.server_errors and all(f.operation == "GET /jobs/{jobId}" for f in summary.server_errors)
    assert {f.status for f in summary.refusals_without_message} == {400, 500}
    assert summary.server_errors[0].request.startswith(f"GET {base_url.rstrip('/')}/jobs/")
    report = summary.to_dict()
    assert report["ok"] is False and report["statuses"]["500"] == len(summary.server_errors)
    assert any(line.startswith("  5xx: GET /jobs/{jobId} -> 500") for line in summary.lines())


def test_other_credentials_only_ever_get_403_with_a_message(
    serve: Any, template: Template, body_schema: dict[str, Any]
) -> None:
    base_url = serve(FakeJobsApi(body_schema))
    other = Credentials("AKIDSOMEONEELSE", "other-secret")
    summary = fuzz(openapi_document(template, base_url), base_url, other, region=REGION, max_examples=5, seed=3)
    assert set(summary.statuses) == {403}
    assert summary.ok  # a refusal with a message is what the API should answer


def test_an_unreachable_target_is_a_transport_error_in_the_summary(template: Template) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/dev"  # nothing listens there any more
    summary = fuzz(openapi_document(template, base_url), base_url, CREDENTIALS, region=REGION, max_examples=2, seed=1,
                   timeout=2.0)
    assert not summary.ok and summary.transport_errors
    assert summary.statuses == {}
    assert "ConnectionError" in summary.transport_errors[0].detail


def test_the_signing_hook_replaces_a_generated_authorization_header() -> None:
    prepared = requests.Request(
        "POST", "http://127.0.0.1:1/dev/jobs", data=b'{"seconds": 1}',
        headers={"Authorization": "fuzzed", "Content-Type": "application/json"},
    ).prepare()
    SigV4RequestAuth(CREDENTIALS, REGION)(prepared)
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = "127.0.0.1:1"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDJOBKITFUZZ/")
    assert "/us-east-1/execute-api/aws4_request" in headers["authorization"]
    assert signature_error("POST", "/dev/jobs", headers, b'{"seconds": 1}') is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"message": "Invalid request body"}', True), (b'{"message": ""}', False), (b"bad", False),
     (b'["message"]', False), (b"\xff\xfe", False), (b'{"Message": "x"}', False)],
)
def test_a_refusal_has_a_message_only_in_api_gateways_shape(body: bytes, expected: bool) -> None:
    assert has_message(body) is expected
