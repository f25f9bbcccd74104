"""A SigV4-signed client of the Jobs API, with the invoke role's credentials, as a real caller has them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError

TERMINAL = {"Success", "Failure"}


class _SigV4AuthAt(SigV4Auth):
    """SigV4 at a chosen instant: how the scenarios make an expired signature, as a skewed clock would."""

    def __init__(self, credentials: Credentials, service: str, region: str, at: datetime) -> None:
        super().__init__(credentials, service, region)
        self._at = at

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._at.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # type: ignore[attr-defined]  # botocore internals, as add_auth
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))  # type: ignore[attr-defined]


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]
    text: str

    @property
    def message(self) -> str | None:
        return self.body.get("message") if isinstance(self.body, dict) else None


@dataclass
class JobsApi:
    """Calls ``POST /jobs`` and ``GET /jobs/{id}``, signed for ``execute-api`` unless told otherwise."""

    base_url: str
    region: str
    credentials: Credentials | None
    timeout: float = 10.0
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def for_deployment(cls, deployment: Deployment, credentials: Credentials | None = None) -> JobsApi:
        """Assumes ``JobsAPIInvokeRole`` (as the pattern's clients do) unless credentials are given."""
        if credentials is None:
            credentials = assume_invoke_role(deployment)
        return cls(base_url=deployment["JobsApiUrl"], region=deployment.region, credentials=credentials)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, body: bytes | str | None = None, *,
                headers: dict[str, str] | None = None, sign: bool = True,
                credentials: Credentials | None = None, signed_at: datetime | None = None,
                tamper: bool = False) -> ApiResponse:
        """One request; ``signed_at`` signs at another instant, ``tamper`` alters the signature after signing."""
        data = body.encode() if isinstance(body, str) else body
        request = AWSRequest(method=method, url=self.url(path), data=data, headers=dict(headers or {}))
        if sign:
            creds = credentials or self.credentials
            if creds is None:
                raise JobkitError("no credentials to sign the request with")
            signer = (SigV4Auth(creds, "execute-api", self.region) if signed_at is None
                      else _SigV4AuthAt(creds, "execute-api", self.region, signed_at))
            signer.add_auth(request)
            if tamper:
                auth = request.headers["Authorization"]
                last = auth[-1]
                request.headers.replace_header("Authorization", auth[:-1] + ("0" if last != "0" else "1"))
        try:
            response = self.session.request(method, str(request.url), data=data, headers=dict(request.headers.items()),
                                            timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise JobkitError(f"the Jobs API at {self.base_url} does not answer: {exc.__class__.__name__}",
                              "is the sandbox up? `jobkit up`") from exc
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        return ApiResponse(response.status_code, parsed, dict(response.headers), response.text)

    def submit(self, seconds: Any, *, fault: str | None = None, extra: dict[str, Any] | None = None) -> str:
        """``POST /jobs``; returns the job id or raises with the API's answer."""
        body: dict[str, Any] = {"seconds": seconds, **(extra or {})}
        if fault is not None:
            body["fault"] = fault
        answer = self.request("POST", "jobs", json.dumps(body), headers={"Content-Type": "application/json"})
        if answer.status != 200 or not isinstance(answer.body, dict) or "id" not in answer.body:
            raise JobkitError(f"POST /jobs {body} answered {answer.status}: {answer.text[:300]}")
        return str(answer.body["id"])

    def get(self, job_id: str) -> ApiResponse:
        return self.request("GET", "jobs/" + quote(job_id, safe=""))

    def statuses(self, job_id: str) -> dict[str, dict[str, Any]]:
        answer = self.get(job_id)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise JobkitError(f"GET /jobs/{job_id} answered {answer.status}: {answer.text[:300]}")
        return answer.body

    def wait_for_statuses(self, job_id: str, expected: dict[str, str], timeout: float = 60,
                          poll: float | None = None) -> dict[str, Any]:
        """Until every named consumer shows the expected status (e.g. both ``Success``); ``poll`` fixes the
        interval between reads (benchmarks), otherwise it grows from 50 ms to 0.5 s."""

        def reached(observed: dict[str, Any]) -> bool:
            return all(observed.get(c, {}).get("status") == s for c, s in expected.items())

        describe = f"job {job_id} to reach {expected}"
        if poll:
            return wait_for(lambda: self.statuses(job_id), reached, timeout=timeout, describe=describe,
                            interval=poll, max_interval=poll)
        return wait_for(lambda: self.statuses(job_id), reached, timeout=timeout, describe=describe)

    def wait_until_settled(self, job_id: str, consumers: list[str], timeout: float = 60) -> dict[str, Any]:
        """Until every consumer shows a terminal status (Success or Failure)."""
        return wait_for(
            lambda: self.statuses(job_id),
            lambda seen: all(seen.get(c, {}).get("status") in TERMINAL for c in consumers),
            timeout=timeout, describe=f"job {job_id} to settle for {consumers}",
        )


def assume_invoke_role(deployment: Deployment, session_name: str = "jobkit") -> Credentials:
    """Credentials of ``JobsAPIInvokeRole`` from STS, as the pattern's clients get them."""
    sts = deployment.client("sts")
    answer = sts.assume_role(RoleArn=deployment["JobsApiInvokeRoleArn"], RoleSessionName=session_name,
                             DurationSeconds=3600)
    c = answer["Credentials"]
    return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
