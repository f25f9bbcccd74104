"""Hostile input against a running Jobs API: schemathesis cases from the stack's OpenAPI document, signed.

The API refuses unsigned calls (``AWS_IAM``), so a fuzzer that does not sign only ever tests the 403 path.
Every generated request is signed with SigV4 for ``execute-api`` on its final bytes (a ``requests`` auth
hook, run after schemathesis has serialized the body and headers), so the cases reach the request
validator, the mapping templates and the table. The summary says what a hostile caller met: how many
requests, which statuses, any 5xx, any refusal without a ``message``.

The number of requests is bounded (``max_examples`` per operation and generation mode), so it fits in
``make test``.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from jobkit.errors import JobkitError

SERVICE: Final = "execute-api"
_GENERATED_AUTH_HEADERS: Final = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")
_EXCERPT: Final = 300


class SigV4RequestAuth(requests.auth.AuthBase):
    """Signs a prepared request (method, URL, headers, body as sent) with SigV4.

    Whatever ``Authorization`` value the generator produced for the ``apiKey`` scheme is replaced: the
    point is to fuzz what lies behind the signature check, not the header itself.
    """

    def __init__(self, credentials: Credentials, region: str, service: str = SERVICE) -> None:
        self.credentials = credentials
        self.region = region
        self.service = service

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        for name in _GENERATED_AUTH_HEADERS:
            request.headers.pop(name, None)
        aws_request = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        SigV4Auth(self.credentials, self.service, self.region).add_auth(aws_request)
        request.headers.update(dict(aws_request.headers.items()))
        return request


@dataclass(frozen=True)
class Finding:
    """One response (or transport error) worth a look, with enough to reproduce it."""

    operation: str
    status: int | None
    request: str
    detail: str


@dataclass
class FuzzSummary:
    """What the target answered to every generated request."""

    base_url: str
    seed: int
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    server_errors: list[Finding] = field(default_factory=list)
    refusals_without_message: list[Finding] = field(default_factory=list)
    transport_errors: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No 5xx, every refusal with a message, every request answered."""
        return not (self.server_errors or self.refusals_without_message or self.transport_errors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for reports."""
        return {
            "base_url": self.base_url,
            "seed": self.seed,
            "ok": self.ok,
            "requests": self.requests,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "by_operation": dict(sorted(self.by_operation.items())),
            "server_errors": [vars(f) for f in self.server_errors],
            "refusals_without_message": [vars(f) for f in self.refusals_without_message],
            "transport_errors": [vars(f) for f in self.transport_errors],
        }

    def lines(self) -> list[str]:
        """A short human summary (one line per fact, findings listed)."""
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        out = [
            f"fuzzed {self.base_url} with seed {self.seed}: {self.requests} requests ({statuses})",
            f"5xx: {len(self.server_errors)}; refusals without a message: {len(self.refusals_without_message)}; "
            f"transport errors: {len(self.transport_errors)}",
        ]
        for kind, findings in (
            ("5xx", self.server_errors),
            ("no message", self.refusals_without_message),
            ("transport", self.transport_errors),
        ):
            out.extend(f"  {kind}: {f.operation} -> {f.status}: {f.request} => {f.detail}" for f in findings[:5])
        return out

    def record(self, operation: str, request: str, status: int | None, body: bytes, error: str = "") -> None:
        """Account for one request (``status`` None: no answer, ``error`` says why)."""
        self.requests += 1
        self.by_operation[operation] += 1
        if status is None:
            self.transport_errors.append(Finding(operation, None, request, error[:_EXCERPT]))
            return
        self.statuses[status] += 1
        if status < 400:
            return
        text = body[:_EXCERPT].decode("utf-8", "backslashreplace")
        if status >= 500:
            self.server_errors.append(Finding(operation, status, request, text))
        if not has_message(body):
            self.refusals_without_message.append(Finding(operation, status, request, text))


def has_message(body: bytes) -> bool:
    """A refusal says why: a JSON object with a non-empty string ``message`` (API Gateway's own shape)."""
    try:
        document = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        return False
    message = document.get("message") if isinstance(document, Mapping) else None
    return isinstance(message, str) and bool(message.strip())


def _describe(request: requests.PreparedRequest | requests.Request | None, fallback: str) -> str:
    if not isinstance(request, requests.PreparedRequest):
        return fallback
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "backslashreplace")
    text = f"{request.method} {request.url}"
    if body:
        text += f" {body}"
    return text[:_EXCERPT]


def fuzz(
    document: Mapping[str, Any],
    base_url: str,
    credentials: Credentials,
    *,
    region: str,
    max_examples: int = 25,
    modes: Sequence[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    seed: int | None = None,
    timeout: float = 10.0,
) -> FuzzSummary:
    """Send schemathesis-generated, SigV4-signed requests for every operation of ``document`` to
    ``base_url``; at most ``max_examples`` per operation and mode. Never raises for what the target
    answers: the summary says it. ``seed`` makes a run repeatable (one is drawn and reported otherwise)."""
    run_seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    summary = FuzzSummary(base_url=base_url.rstrip("/"), seed=run_seed)
    schema = schemathesis.openapi.from_dict(copy.deepcopy(dict(document)), config=schemathesis.Config())
    session = requests.Session()
    session.auth = SigV4RequestAuth(credentials, region)
    run_settings = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # nothing to shrink: nothing is raised
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise JobkitError(f"the OpenAPI document has an operation schemathesis cannot use: {result.err()}")
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            send = _sender(summary, label, session, timeout)
            for mode in modes:
                strategy = operation.as_strategy(generation_mode=mode)
                hypothesis_seed(run_seed)(run_settings(given(strategy)(send)))()
    finally:
        session.close()
    return summary


def _sender(
    summary: FuzzSummary, label: str, session: requests.Session, timeout: float
) -> Callable[[schemathesis.Case], None]:
    """The body of the property: send one case (signed by the session's auth) and account for it."""

    def send(case: schemathesis.Case) -> None:
        try:
            response = case.call(base_url=summary.base_url, session=session, timeout=timeout)
        except requests.RequestException as exc:
            summary.record(label, _describe(exc.request, label), None, b"", f"{type(exc).__name__}: {exc}")
            return
        summary.record(label, _describe(response.request, label), response.status_code, response.content)

    return send


