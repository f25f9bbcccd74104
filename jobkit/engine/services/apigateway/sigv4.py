"""Verifying AWS Signature Version 4 on requests to the REST API, as API Gateway does for ``AWS_IAM``.

Algorithm: "Create a signed AWS API request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html); the path is
URI-encoded twice for every service but S3, as the SDKs sign it. The same page requires ``host`` among the
signed headers and scopes the credential as ``date/region/service/aws4_request``: a signature is accepted only
for the engine's region, for ``execute-api``, on the day of its ``X-Amz-Date``. ``X-Amz-Date`` must be signed
too: the time a signature claims is what bounds its replay, and an unsigned one could be moved.

The payload hash is always computed from the body received, never taken from ``x-amz-content-sha256``: the
header is checked against it when sent. ``UNSIGNED-PAYLOAD`` is an Amazon S3 option ("Signature Calculations
for the Authorization Header: Transferring Payload in a Single Chunk",
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html), not one of API Gateway, so
it is a mismatch like any other.

Refusals carry API Gateway's ``x-amzn-ErrorType`` values, all 403: "Gateway response types for API Gateway"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html:
MISSING_AUTHENTICATION_TOKEN, INVALID_SIGNATURE, EXPIRED_TOKEN) and "Troubleshoot 403 errors in API Gateway"
(https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden). The messages are AWS's own as
its services answer them (AWS documents no list of them): the scope messages as API Gateway and the
``com.amazon.coral`` services word them, the content-hash one as S3's ``XAmzContentSHA256Mismatch`` ("Error
responses", https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). No AWS answer for an
unsigned ``X-Amz-Date`` is known; its message is worded like the one for ``Host``.
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
SERVICE = "execute-api"
TERMINATOR = "aws4_request"
MAX_SKEW = dt.timedelta(minutes=5)
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$", re.ASCII)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
CONTENT_SHA256_MISMATCH = "The provided 'x-amz-content-sha256' header does not match what was computed."
HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
DATE_NOT_SIGNED = "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."


@dataclass(frozen=True)
class Credential:
    """A secret the engine issued (STS AssumeRole), and whose it is."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    principal_arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    role_arn: str
    expiration: dt.datetime


#: keys API Gateway does not know: an AccessDeniedException in its words ("How do I troubleshoot HTTP 403 errors
#: from API Gateway?", https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden)
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105  # nosec B105  # a message, not a secret


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
    # as sent, still percent-encoded; the gateway passes only paths in canonical form (no empty or dot segments),
    # so SigV4's normalisation ("remove redundant and relative path components") has nothing to remove
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # case-insensitive lookups are done on lower-cased keys
    body: bytes


def _parse_authorization(value: str) -> dict[str, str]:
    match = _AUTH.match(value.strip())
    if match is None:
        hashed = base64.b64encode(hashlib.sha256(value.encode(errors="replace")).digest()).decode()
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


def _scope_problems(scope: list[str], amz_date: str, region: str, service: str) -> str:
    """What is wrong with a credential scope (date/region/service/terminator), in AWS's words; empty if nothing."""
    date, scope_region, scope_service, terminator = scope
    problems = ""
    if scope_region != region:
        problems += f"Credential should be scoped to a valid region, not '{scope_region}'. "
    if scope_service != service:
        problems += f"Credential should be scoped to correct service: '{service}'. "
    if terminator != TERMINATOR:
        problems += f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
    if date != amz_date[:8]:
        problems += ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                     f"'{date}' != '{amz_date[:8]}', from '{amz_date}'.")
    return problems


def canonical_request(request: SignedRequest, signed_headers: list[str], payload_hash: str) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    path = quote(request.raw_path or "/", safe="/~")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                   for k, v in parse_qsl(request.raw_query, keep_blank_values=True))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    return "\n".join([request.method, path, query, canonical_headers, ";".join(signed_headers), payload_hash])


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, scope: list[str], string_to_sign: str) -> str:
    date, region, service = scope[0], scope[1], scope[2]
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), TERMINATOR)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify(request: SignedRequest, lookup: Callable[[str], Credential | None], *, region: str,
           service: str = SERVICE, now: dt.datetime | None = None) -> Credential:
    """The caller's credential if the request is signed by it, for ``service`` in ``region``, and in time;
    SignatureError otherwise. Checked in the order AWS's services check (format, time, signed headers, scope,
    key, signature)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = _parse_authorization(authorization)
    amz_date = headers.get("x-amz-date", "")
    if not amz_date:
        raise SignatureError("IncompleteSignatureException",
                             "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                             f"header. Authorization={authorization}")
    try:
        if not _AMZ_DATE.match(amz_date):
            raise ValueError(amz_date)
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError("IncompleteSignatureException",
                             f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                             "See http://en.wikipedia.org/wiki/ISO_8601") from None
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
    signed_headers = parts["SignedHeaders"].split(";")
    named = {name.lower() for name in signed_headers}  # AWS finds them whatever their case
    if "host" not in named:
        raise SignatureError("InvalidSignatureException", HOST_NOT_SIGNED)
    if "x-amz-date" not in named:
        raise SignatureError("InvalidSignatureException", DATE_NOT_SIGNED)
    elements = parts["Credential"].split("/")
    if len(elements) != 5:
        raise SignatureError("IncompleteSignatureException",
                             "Credential must have exactly 5 slash-delimited elements, e.g. "
                             f"keyid/date/region/service/term, got '{parts['Credential']}'")
    access_key, scope = elements[0], elements[1:]
    problems = _scope_problems(scope, amz_date, region, service)
    if problems:
        raise SignatureError("InvalidSignatureException", problems)
    credential = lookup(access_key)
    if credential is None:
        raise SignatureError("AccessDeniedException", INVALID_TOKEN)
    if credential.session_token is not None and headers.get("x-amz-security-token") != credential.session_token:
        raise SignatureError("AccessDeniedException", INVALID_TOKEN)
    if credential.expiration < now:
        raise SignatureError("ExpiredTokenException", "The security token included in the request is expired")
    payload_hash = hashlib.sha256(request.body).hexdigest()  # the body's one hash, used for both checks below
    sent_hash = headers.get("x-amz-content-sha256")
    if sent_hash is not None and sent_hash != payload_hash:
        raise SignatureError("InvalidSignatureException", CONTENT_SHA256_MISMATCH)
    canonical = canonical_request(request, signed_headers, payload_hash)
    string_to_sign = "\n".join([ALGORITHM, amz_date, "/".join(scope), hashlib.sha256(canonical.encode()).hexdigest()])
    expected = signature(credential.secret_access_key, scope, string_to_sign)
    # bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, which would answer 500)
    if not hmac.compare_digest(expected.encode(), parts["Signature"].encode(errors="replace")):
        raise SignatureError(
            "InvalidSignatureException",
            f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n")
    return credential
