"""What the engine's port lets in: which hosts and origins it answers, which paths it serves, how large a request
may be. Decided on the request line and headers, before a byte of the body is read.

The engine listens on loopback, but a web page open in the developer's browser can reach loopback too: by a
cross-origin request (a form POST needs no preflight) or by DNS rebinding (a foreign name resolved to
127.0.0.1, so the request carries a foreign ``Host``). So, as LocalStack's CORS enforcement does
(``localstack/aws/handlers/cors.py``: only local origins unless ``EXTRA_CORS_ALLOWED_ORIGINS``, with
``DISABLE_CORS_CHECKS`` as the escape hatch), a request whose ``Origin`` (or, without one, ``Referer``) is not
local is refused, and so is a ``Host`` that is not a local name. Unlike LocalStack, which leaves a REST API's
own requests to the API's CORS settings, the jobs API is screened too: the stack configures no CORS, so on AWS
a browser on a foreign page could not read its answers either.

Every setting that widens this is an environment variable, read once when the engine starts, and a bad value
stops the start with one line naming it (``FrontDoorSettings.from_env``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, overload
from urllib.parse import urlsplit

from jobkit.errors import JobkitError

CORS_ALLOWED_ORIGINS_ENV = "JOBKIT_CORS_ALLOWED_ORIGINS"
DISABLE_CORS_CHECKS_ENV = "JOBKIT_DISABLE_CORS_CHECKS"
ALLOWED_HOSTS_ENV = "JOBKIT_ALLOWED_HOSTS"
MOTO_API_ENV = "JOBKIT_MOTO_API"

#: names that reach the engine legitimately: loopback, ``*.localhost`` (loopback by RFC 6761, and what browsers
#: resolve there), and LocalStack's ``localhost.localstack.cloud`` forms, the execute-api host among them
_LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "localhost.localstack.cloud"})
_LOCAL_SUFFIXES = (".localhost", ".localhost.localstack.cloud")
_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$")
_ORIGIN = re.compile(r"^(https?)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$")

#: CORS answers to an allowed origin (what the AWS SDK for JavaScript sends and reads)
CORS_ALLOW_METHODS = "HEAD,GET,PUT,POST,DELETE,OPTIONS,PATCH"
CORS_ALLOW_HEADERS = ("authorization,content-type,content-length,x-amz-content-sha256,x-amz-date,"
                      "x-amz-security-token,x-amz-target,x-amz-user-agent,x-amz-invocation-type,x-amz-log-type,"
                      "x-amz-client-context,amz-sdk-invocation-id,amz-sdk-request")
CORS_EXPOSE_HEADERS = ("x-amzn-requestid,x-amzn-errortype,x-amz-apigw-id,x-amz-log-result,x-amz-executed-version,"
                       "x-amz-function-error")

MiB = 1024 * 1024
#: The largest request body each service takes, refused 413 before it is read. API Gateway: "Amazon API Gateway
#: quotas" (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html), 10 MB payload, a hard
#: quota. Lambda: "Lambda quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
#: an invocation's payload is at most 6 MB; a deployment package uploaded directly is at most 50 MB zipped,
#: sent base64-encoded inside JSON (4/3 of it, plus the envelope). DynamoDB: "Service, account, and table quotas
#: in Amazon DynamoDB" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html),
#: BatchWriteItem's total request size is at most 16 MB. Every other service the engine serves takes at most
#: 1 MiB of payload per request (SQS SendMessageBatch, EventBridge PutEvents entries, CloudWatch Logs
#: PutLogEvents: "Amazon SQS quotas", "Amazon EventBridge quotas", "CloudWatch Logs quotas"), which their
#: protocols send escaped (JSON) or percent-encoded (query): at most 3 bytes a byte, plus the envelope. S3 takes
#: an object of up to 5 GB in one PUT ("Amazon S3 multipart upload limits"); the engine holds a body in memory,
#: so it takes one as large as the largest a function's code can be (250 MB unzipped, "Lambda quotas": cdk
#: uploads each asset in one PUT), and larger objects in parts.
REQUEST_LIMITS: dict[str, int] = {
    "execute-api": 10 * MiB,
    "lambda:invoke": 6 * MiB,
    "lambda": 70 * MiB,
    "dynamodb": 16 * MiB,
    "s3": 250 * MiB,
}
OTHER_SERVICE_LIMIT = 4 * MiB
#: jobkit's own endpoints (``/_jobkit/*``, ``/_localstack/*``) and anything unsigned take small JSON documents
OWN_ENDPOINT_LIMIT = 64 * 1024

_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]*/\d{8}/[^/,\s]*/([^/,\s]+)/aws4_request")
_USER_REQUEST = re.compile(r"^/restapis/[^/]+/[^/]+/_user_request_(/|$)")
_INVOCATION = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


class Headers(Protocol):
    """A request's headers, looked up case-insensitively (the HTTP server's ``email.message.Message``, or
    werkzeug's ``Headers``)."""

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def __contains__(self, name: str, /) -> bool: ...


class SettingError(JobkitError):
    """An environment setting of the front door that cannot be used; its message names the setting."""


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of serving the request: status, ``x-amzn-ErrorType`` and a message."""

    status: int
    error_type: str
    message: str

    def body(self) -> bytes:
        return json.dumps({"message": self.message}).encode()

    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), ("x-amzn-ErrorType", self.error_type)]


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise SettingError(f"{name}={env[name]!r}: use 1 or 0")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _origin_key(scheme: str, host: str, port: str | None) -> str:
    default = "80" if scheme == "http" else "443"
    return f"{scheme}://{host.lower()}" + (f":{port}" if port and port != default else "")


def _is_local_name(name: str) -> bool:
    name = name.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES)


@dataclass(frozen=True)
class FrontDoorSettings:
    """The widening settings, all off by default."""

    allowed_origins: frozenset[str] = frozenset()  # exact origins, normalised; "*" for any
    disable_cors_checks: bool = False
    allowed_hosts: tuple[str, ...] = ()  # exact names, "*.suffix" patterns, or "*" for any
    moto_api: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FrontDoorSettings:
        env = os.environ if env is None else env
        origins: set[str] = set()
        for origin in _split(env.get(CORS_ALLOWED_ORIGINS_ENV, "")):
            if origin == "*":
                origins.add("*")
                continue
            match = _ORIGIN.match(origin)
            if match is None:
                raise SettingError(f"{CORS_ALLOWED_ORIGINS_ENV}: {origin!r} is not an origin "
                                   "(scheme://host[:port], e.g. http://devbox.lan:3000)")
            origins.add(_origin_key(*match.groups()))
        hosts: list[str] = []
        for host in _split(env.get(ALLOWED_HOSTS_ENV, "")):
            name = host.removeprefix("*.")
            if host != "*" and not _HOST.match(name):
                raise SettingError(f"{ALLOWED_HOSTS_ENV}: {host!r} is not a host name (e.g. devbox.lan or *.lan)")
            hosts.append(host.lower())
        return cls(frozenset(origins), _flag(env, DISABLE_CORS_CHECKS_ENV), tuple(hosts), _flag(env, MOTO_API_ENV))


def host_name(host_header: str) -> str | None:
    """The name of a ``Host`` header without its port; None if it is not a host."""
    match = _HOST.match(host_header.strip())
    return match.group(1).lower() if match else None


class FrontDoor:
    """Screens each request on its head; decorates each answer with the CORS headers an allowed origin gets."""

    def __init__(self, settings: FrontDoorSettings | None = None) -> None:
        self.settings = settings or FrontDoorSettings()

    # --- hosts -------------------------------------------------------------------------------------------
    def host_allowed(self, host_header: str) -> bool:
        name = host_name(host_header)
        if name is None:
            return False
        if _is_local_name(name):
            return True
        for allowed in self.settings.allowed_hosts:
            if allowed == "*" or allowed == name or (allowed.startswith("*.") and name.endswith(allowed[1:])):
                return True
        return False

    # --- origins -----------------------------------------------------------------------------------------
    @staticmethod
    def origin_of(headers: Headers) -> str | None:
        """The origin a browser named (``Origin``, else the origin of ``Referer``); None for a non-browser."""
        origin = headers.get("Origin")
        if origin is not None:
            return origin.strip()
        referer = headers.get("Referer")
        if referer:
            parts = urlsplit(referer.strip())
            return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"
        # a browser that sent neither (Referrer-Policy: no-referrer) still says where the request came from
        if headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
            return "null"
        return None

    def origin_allowed(self, origin: str) -> bool:
        if self.settings.disable_cors_checks or "*" in self.settings.allowed_origins:
            return True
        match = _ORIGIN.match(origin)
        if match is None:  # "null" (a sandboxed frame, a file), or not an origin at all
            return False
        scheme, host, port = match.groups()
        return _is_local_name(host) or _origin_key(scheme, host, port) in self.settings.allowed_origins

    # --- the screen --------------------------------------------------------------------------------------
    def screen(self, method: str, path: str, headers: Headers) -> Refusal | None:
        """A refusal for a request that must not be served, else None."""
        host = headers.get("Host", "")
        if not self.host_allowed(host):
            return Refusal(403, "ForbiddenHostException",
                           f"jobkit answers only local host names, and {host!r} is not one; to answer it, add it to "
                           f"{ALLOWED_HOSTS_ENV} (comma-separated names, *.suffix allowed)")
        origin = self.origin_of(headers)
        if origin is not None and not self.origin_allowed(origin):
            return Refusal(403, "ForbiddenOriginException",
                           f"jobkit refuses cross-origin requests from {origin!r}; to allow an origin, add it to "
                           f"{CORS_ALLOWED_ORIGINS_ENV} (comma-separated), or set {DISABLE_CORS_CHECKS_ENV}=1")
        # moto's dispatcher sends every path that starts so to its admin app (moto_server/werkzeug_app.py)
        if path.startswith("/moto-api") and not self.settings.moto_api:
            return Refusal(404, "NotFoundException",
                           f"moto's admin API is not served; set {MOTO_API_ENV}=1 to serve it")
        return None

    def cors_headers(self, method: str, headers: Headers) -> list[tuple[str, str]]:
        """The CORS headers of an answer to an allowed browser origin (none without an ``Origin``)."""
        origin = headers.get("Origin")
        if origin is None:
            return []
        extra = [("Access-Control-Allow-Origin", origin.strip()), ("Vary", "Origin")]
        if method == "OPTIONS":
            requested = headers.get("Access-Control-Request-Headers", "")
            allowed = CORS_ALLOW_HEADERS + ("," + requested if requested else "")
            extra += [("Access-Control-Allow-Methods", CORS_ALLOW_METHODS),
                      ("Access-Control-Allow-Headers", allowed), ("Access-Control-Max-Age", "600")]
        else:
            extra.append(("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS))
        return extra

    @staticmethod
    def is_preflight(method: str, headers: Headers) -> bool:
        return method == "OPTIONS" and "Origin" in headers and "Access-Control-Request-Method" in headers


def is_api_request(path: str, headers: Headers) -> bool:
    """A request to a deployed REST API (not to API Gateway's control plane)."""
    return bool(_USER_REQUEST.match(path)) or ".execute-api." in headers.get("Host", "")


def request_limit(method: str, path: str, headers: Headers) -> int:
    """The largest body this request may carry (``REQUEST_LIMITS``), from its path and signature scope."""
    if is_api_request(path, headers):
        return REQUEST_LIMITS["execute-api"]
    match = _SCOPE_SERVICE.search(headers.get("Authorization", ""))
    if match is None:
        return OWN_ENDPOINT_LIMIT
    service = match.group(1)
    if service == "lambda" and method == "POST" and _INVOCATION.match(path):
        return REQUEST_LIMITS["lambda:invoke"]
    return REQUEST_LIMITS.get(service, OTHER_SERVICE_LIMIT)


#: API Gateway's REQUEST_TOO_LARGE: a 413 that cannot be customized (its x-amzn-ErrorType is not documented)
API_TOO_LARGE = Refusal(413, "RequestTooLargeException", "Request Too Long")


def too_large(path: str, headers: Headers, limit: int) -> Refusal:
    """The 413 of a body above its limit; a REST API's in API Gateway's own words ("Gateway response types
    for API Gateway": REQUEST_TOO_LARGE, https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)."""
    if is_api_request(path, headers):
        return API_TOO_LARGE
    return Refusal(413, "RequestEntityTooLargeException",
                   f"the request body is larger than this service takes ({limit} bytes)")
