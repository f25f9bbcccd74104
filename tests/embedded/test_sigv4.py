from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jobkit.engine.sigv4 import Credential, SignatureError, SignedRequest, verify

KEY = Credential("ASIAEXAMPLE", "secret", "token", "arn:aws:sts::000000000000:assumed-role/R/s",
                 "arn:aws:iam::000000000000:role/R", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


def signed(body: bytes = b'{"seconds": 1}', path: str = "/restapis/a/dev/_user_request_/jobs") -> SignedRequest:
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:4566{path}?b=2&a=1", data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY.access_key_id, KEY.secret_access_key, KEY.session_token), "execute-api",
              "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = "127.0.0.1:4566"
    return SignedRequest("POST", path, "b=2&a=1", headers, body)


def lookup(key: str) -> Credential | None:
    return KEY if key == KEY.access_key_id else None


def test_a_botocore_signature_verifies() -> None:
    assert verify(signed(), lookup) == KEY


def test_path_with_encoded_characters_verifies() -> None:
    assert verify(signed(path="/restapis/a/dev/_user_request_/jobs/a%20b"), lookup) == KEY


def test_tampered_body_is_an_invalid_signature() -> None:
    request = signed()
    tampered = SignedRequest(request.method, request.raw_path, request.raw_query, request.headers, b'{"seconds": 2}')
    with pytest.raises(SignatureError) as caught:
        verify(tampered, lookup)
    assert caught.value.error_type == "InvalidSignatureException"
    assert caught.value.message.startswith("The request signature we calculated does not match the signature you "
                                           "provided. Check your AWS Secret Access Key and signing method.")


def test_missing_authorization() -> None:
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    with pytest.raises(SignatureError) as caught:
        verify(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body), lookup)
    assert (caught.value.error_type, caught.value.message) == ("MissingAuthenticationTokenException",
                                                              "Missing Authentication Token")


def test_expired_signature_message() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    with pytest.raises(SignatureError) as caught:
        verify(signed(), lookup, now=later)
    assert caught.value.error_type == "InvalidSignatureException"
    assert caught.value.message.startswith("Signature expired: ")
    assert "is now earlier than" in caught.value.message and caught.value.message.endswith(" - 5 min.)")


def test_unknown_key_and_expired_token() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(signed(), lambda key: None)
    assert caught.value.error_type == "UnrecognizedClientException"
    old = Credential(*[getattr(KEY, f) for f in ("access_key_id", "secret_access_key", "session_token",
                                                 "principal_arn", "role_arn")],
                     expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    with pytest.raises(SignatureError) as caught:
        verify(signed(), lambda key: old)
    assert caught.value.error_type == "ExpiredTokenException"


def test_malformed_authorization_is_incomplete() -> None:
    request = signed()
    headers = {**request.headers, "Authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240101/us-east-1/"
                                                   "execute-api/aws4_request"}
    with pytest.raises(SignatureError) as caught:
        verify(SignedRequest("POST", request.raw_path, request.raw_query, headers, request.body), lookup)
    assert caught.value.error_type == "IncompleteSignatureException"
    assert "requires 'SignedHeaders' parameter" in caught.value.message
