from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jobkit.engine.services.apigateway.sigv4 import (
    CONTENT_SHA256_MISMATCH,
    DATE_NOT_SIGNED,
    HOST_NOT_SIGNED,
    Credential,
    SignatureError,
    SignedRequest,
    verify,
)

REGION = "us-east-1"
KEY = Credential("ASIAEXAMPLE", "secret", "token", "arn:aws:sts::000000000000:assumed-role/R/s",
                 "arn:aws:iam::000000000000:role/R", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


def signed(body: bytes = b'{"seconds": 1}', path: str = "/restapis/a/dev/_user_request_/jobs", *,
           service: str = "execute-api", region: str = REGION,
           extra_headers: dict[str, str] | None = None) -> SignedRequest:
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:4566{path}?b=2&a=1", data=body,
                         headers={"Content-Type": "application/json", **(extra_headers or {})})
    SigV4Auth(Credentials(KEY.access_key_id, KEY.secret_access_key, KEY.session_token), service,
              region).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = "127.0.0.1:4566"
    return SignedRequest("POST", path, "b=2&a=1", headers, body)


def lookup(key: str) -> Credential | None:
    return KEY if key == KEY.access_key_id else None


def refusal(request: SignedRequest, keys: Callable[[str], Credential | None] = lookup,
            now: dt.datetime | None = None) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(request, keys, region=REGION, now=now)
    assert caught.value.status == 403
    return caught.value


def with_authorization(request: SignedRequest, old: str, new: str) -> SignedRequest:
    """The request with part of its Authorization header replaced (the rest of it, and the body, unchanged)."""
    assert old in request.headers["Authorization"]
    headers = {**request.headers, "Authorization": request.headers["Authorization"].replace(old, new)}
    return SignedRequest(request.method, request.raw_path, request.raw_query, headers, request.body)


def test_a_botocore_signature_verifies() -> None:
    assert verify(signed(), lookup, region=REGION) == KEY


def test_path_with_encoded_characters_verifies() -> None:
    assert verify(signed(path="/restapis/a/dev/_user_request_/jobs/a%20b"), lookup, region=REGION) == KEY


def test_tampered_body_is_an_invalid_signature() -> None:
    request = signed()
    tampered = SignedRequest(request.method, request.raw_path, request.raw_query, request.headers, b'{"seconds": 2}')
    error = refusal(tampered)
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("The request signature we calculated does not match the signature you "
                                    "provided. Check your AWS Secret Access Key and signing method.")


def test_missing_authorization() -> None:
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    error = refusal(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body))
    assert (error.error_type, error.message) == ("MissingAuthenticationTokenException", "Missing Authentication Token")


def test_expired_signature_message() -> None:
    error = refusal(signed(), now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("Signature expired: ")
    assert "is now earlier than" in error.message and error.message.endswith(" - 5 min.)")


def test_unknown_key_and_expired_token() -> None:
    assert refusal(signed(), lambda key: None).error_type == "AccessDeniedException"
    old = dataclasses.replace(KEY, expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert refusal(signed(), lambda key: old).error_type == "ExpiredTokenException"


def test_malformed_authorization_is_incomplete() -> None:
    request = signed()
    headers = {**request.headers, "Authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240101/us-east-1/"
                                                   "execute-api/aws4_request"}
    error = refusal(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body))
    assert error.error_type == "IncompleteSignatureException"
    assert "requires 'SignedHeaders' parameter" in error.message


def test_malformed_date_is_incomplete() -> None:
    request = signed()
    headers = {**request.headers, "X-Amz-Date": "2024-01-01T00:00:00Z"}
    error = refusal(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body))
    assert error.error_type == "IncompleteSignatureException"
    assert error.message == ("Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. "
                             "See http://en.wikipedia.org/wiki/ISO_8601")


# --- the credential scope: a signature is for one region, one service, one day ---------------------------------
def test_a_signature_for_another_service_is_refused() -> None:
    error = refusal(signed(service="dynamodb"))
    assert (error.error_type, error.message) == ("InvalidSignatureException",
                                                 "Credential should be scoped to correct service: 'execute-api'. ")


def test_a_signature_for_another_region_is_refused() -> None:
    error = refusal(signed(region="eu-west-1"))
    assert (error.error_type, error.message) == ("InvalidSignatureException",
                                                 "Credential should be scoped to a valid region, not 'eu-west-1'. ")


def test_every_scope_problem_is_named_at_once() -> None:
    request = signed()
    amz_date = request.headers["X-Amz-Date"]
    bad = with_authorization(request, f"/{amz_date[:8]}/us-east-1/execute-api/aws4_request",
                             "/19990101/mars-1/s3/aws5_request")
    error = refusal(bad)
    assert error.error_type == "InvalidSignatureException"
    assert error.message == (
        "Credential should be scoped to a valid region, not 'mars-1'. "
        "Credential should be scoped to correct service: 'execute-api'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'19990101' != '{amz_date[:8]}', from '{amz_date}'.")


def test_a_credential_of_other_than_five_elements_is_incomplete() -> None:
    request = signed()
    bad = with_authorization(request, "/aws4_request", "")
    error = refusal(bad)
    assert error.error_type == "IncompleteSignatureException"
    assert error.message.startswith("Credential must have exactly 5 slash-delimited elements, e.g. "
                                    "keyid/date/region/service/term, got 'ASIAEXAMPLE/")


@pytest.mark.parametrize(("header", "message"), [("host", HOST_NOT_SIGNED), ("x-amz-date", DATE_NOT_SIGNED)])
def test_host_and_date_must_be_signed(header: str, message: str) -> None:
    request = signed()
    signed_headers = request.headers["Authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0]
    fewer = ";".join(h for h in signed_headers.split(";") if h != header)
    error = refusal(with_authorization(request, f"SignedHeaders={signed_headers}", f"SignedHeaders={fewer}"))
    assert (error.error_type, error.message) == ("InvalidSignatureException", message)


# --- the payload: hashed from the body received --------------------------------------------------------------
def test_a_content_hash_header_that_matches_the_body_verifies() -> None:
    body = b'{"seconds": 1}'
    request = signed(body, extra_headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert verify(request, lookup, region=REGION) == KEY


@pytest.mark.parametrize("declared", ["sha256 of the signed body", "UNSIGNED-PAYLOAD"])
def test_a_content_hash_header_is_not_trusted_for_another_body(declared: str) -> None:
    """Signed with the header (botocore then signs the header's value as the payload hash), sent with another
    body: the body received is what is hashed."""
    value = hashlib.sha256(b'{"seconds": 1}').hexdigest() if declared.startswith("sha256") else declared
    request = signed(b'{"seconds": 1}', extra_headers={"X-Amz-Content-SHA256": value})
    swapped = SignedRequest(request.method, request.raw_path, request.raw_query, request.headers,
                            b'{"seconds": 300, "fault": "swapped"}')
    error = refusal(swapped)
    assert (error.error_type, error.message) == ("InvalidSignatureException", CONTENT_SHA256_MISMATCH)


def test_unsigned_payload_is_refused_even_with_its_own_body() -> None:
    request = signed(b'{"seconds": 1}', extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert refusal(request).message == CONTENT_SHA256_MISMATCH


# --- whatever the bytes, a refusal and never an exception ----------------------------------------------------------
@pytest.mark.parametrize("signature", ["é" * 64, "0" * 63 + "\u00ff", "\u2603", ""])
def test_a_non_ascii_signature_is_an_invalid_signature(signature: str) -> None:
    request = signed()
    provided = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    error = refusal(with_authorization(request, f"Signature={provided}", f"Signature={signature}"))
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("The request signature we calculated does not match")


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/é/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=0",
    "AWS4-HMAC-SHA256 Credential=ÄSIA/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=hóst, Signature=0",
    "AWS4-HMAC-SHA256 Crédential=x, SignedHeaders=host, Signature=é",
    "AWS4-HMAC-SHA256 ☃",
    "ÀWS4-HMAC-SHA256 Credential=x",
])
def test_non_ascii_anywhere_in_the_authorization_header_is_a_refusal(authorization: str) -> None:
    request = signed()
    headers = {**request.headers, "Authorization": authorization}
    error = refusal(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body))
    assert error.error_type in ("IncompleteSignatureException", "InvalidSignatureException")
    assert error.message
