"""Verifying AWS Signature Version 4 on requests to the REST API, as API Gateway does for ``AWS_IAM``.

Algorithm: "Create a signed AWS API request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html); the path is
URI-encoded twice for every service but S3, as the SDKs sign it. Refusals carry API Gateway's messages and
``x-amzn-ErrorType`` values: "Gateway response types for API Gateway"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html:
MISSING_AUTHENTICATION_TOKEN, INVALID_SIGNATURE, EXPIRED_TOKEN, all 403) and "Troubleshoot 403 errors in API
Gateway" (https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=5)
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Credential:
    """A secret the engine issued (STS AssumeRole), and whose it is."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    principal_arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    role_arn: str
    expiration: dt.datetime


class SignatureError(Exception):
    """A refusal: HTTP status, API Gateway's error type and message."""

    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # as sent, still percent-encoded
    raw_query: str
    headers: Mapping[str, str]  # case-insensitive lookups are done on lower-cased keys
    body: bytes


def _parse_authorization(value: str) -> dict[str, str]:
    match = _AUTH.match(value.strip())
    if match is None:
        hashed = base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()
        raise SignatureError("IncompleteSignatureException",
                             "Invalid key=value pair (missing equal-sign) in Authorization header "
                             f"(hashed with SHA-256 and encoded with Base64): '{hashed}'.")
    parts = dict(part.strip().split("=", 1) for part in match.group(1).split(",") if "=" in part)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in parts]
    if missing:
        raise SignatureError("IncompleteSignatureException",
                             " ".join(f"Authorization header requires '{m}' parameter." for m in missing)
                             + f" Authorization={value}")
    return parts


def canonical_request(request: SignedRequest, signed_headers: list[str]) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    path = quote(request.raw_path or "/", safe="/~")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                   for k, v in parse_qsl(request.raw_query, keep_blank_values=True))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(request.body).hexdigest()
    return "\n".join([request.method, path, query, canonical_headers, ";".join(signed_headers), payload])


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, scope: list[str], string_to_sign: str) -> str:
    date, region, service = scope[0], scope[1], scope[2]
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify(request: SignedRequest, lookup: Callable[[str], Credential | None],
           now: dt.datetime | None = None) -> Credential:
    """The caller's credential if the request is signed by it and in time; SignatureError otherwise."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = _parse_authorization(authorization)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError("IncompleteSignatureException",
                             f"Credential should be scoped to a valid region. Authorization={authorization}")
    access_key, scope = scope[0], scope[1:]
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError("IncompleteSignatureException",
                             "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                             f"header. Authorization={authorization}") from None
    now = now or dt.datetime.now(dt.UTC)
    fmt = "%Y%m%dT%H%M%SZ"
    if signed_at < now - MAX_SKEW:
        raise SignatureError("InvalidSignatureException",
                             f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW).strftime(fmt)} "
                             f"({now.strftime(fmt)} - 5 min.)")
    if signed_at > now + MAX_SKEW:
        raise SignatureError("InvalidSignatureException",
                             f"Signature not yet current: {amz_date} is still later than "
                             f"{(now + MAX_SKEW).strftime(fmt)} ({now.strftime(fmt)} + 5 min.)")
    credential = lookup(access_key)
    if credential is None:
        raise SignatureError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if credential.session_token is not None and headers.get("x-amz-security-token") != credential.session_token:
        raise SignatureError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if credential.expiration < now:
        raise SignatureError("ExpiredTokenException", "The security token included in the request is expired")
    signed_headers = parts["SignedHeaders"].split(";")
    canonical = canonical_request(request, signed_headers)
    string_to_sign = "\n".join([ALGORITHM, amz_date, "/".join(scope), hashlib.sha256(canonical.encode()).hexdigest()])
    expected = signature(credential.secret_access_key, scope, string_to_sign)
    if not hmac.compare_digest(expected, parts["Signature"]):
        raise SignatureError(
            "InvalidSignatureException",
            f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n")
    return credential
