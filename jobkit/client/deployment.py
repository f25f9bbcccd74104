"""A deployed pattern, found from the outputs file that ``cdk deploy --outputs-file`` writes."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from jobkit.deploy.outputs import consumer_ids
from jobkit.errors import JobkitError
from jobkit.files import MiB, MissingFile, parse_json, read_text_file
from jobkit.sandbox import REGION
from jobkit.targets.catalog import start_hint
from stack.settings import STACK_NAME

DEFAULT_OUTPUTS = Path("cdk-outputs.json")
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # nosec B105  # dummy keys, local only
#: The most of an outputs file jobkit reads: a stack has at most 200 outputs (a CloudFormation quota) of short
#: names and values, a few KB as cdk writes them; 1 MiB leaves ample room and refuses a wrong file early.
OUTPUTS_MAX_BYTES = 1 * MiB


@dataclass(frozen=True)
class Deployment:
    """The outputs of one deployed stack and how to reach its AWS APIs."""

    target: str
    outputs: dict[str, str]
    endpoint_url: str | None
    region: str
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | str = DEFAULT_OUTPUTS, target: str | None = None) -> Deployment:
        path = Path(path)
        hint = start_hint(target)
        try:
            text = read_text_file(path, what="outputs file", max_bytes=OUTPUTS_MAX_BYTES)
        except MissingFile as exc:
            raise JobkitError(f"no deployment found: {path} does not exist", hint) from exc
        expected = f"an outputs file of stack {STACK_NAME}"
        document = parse_json(text, where=str(path), expected=expected)
        outputs = document.get(STACK_NAME) if isinstance(document, dict) else None
        if not isinstance(outputs, dict):
            raise JobkitError(f"{path} is not {expected} (no object {STACK_NAME!r} at the top)", hint)
        wrong = next((key for key, value in outputs.items() if not isinstance(value, str)), None)
        if wrong is not None:
            raise JobkitError(f"{path} is not {expected} (output {wrong!r} is not a string)", hint)
        if not re.fullmatch(r"[0-9]{1,3}", outputs.get("Consumers", "2")):
            raise JobkitError(f"{path} is not {expected} (Consumers is not a count)", hint)
        missing = [k for k in ("JobsApiUrl", "JobsApiInvokeRoleArn", "JobsTableName") if k not in outputs]
        if missing:
            raise JobkitError(f"{path} lacks the outputs {', '.join(missing)}", hint)
        found_target = outputs.get("JobkitTarget", "aws")
        if target is not None and target != found_target:
            raise JobkitError(f"{path} describes a deployment on target {found_target!r}, not {target!r}", hint)
        region = outputs.get("JobkitRegion") or os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION") or REGION
        return cls(target=found_target, outputs=outputs, endpoint_url=outputs.get("JobkitEndpointUrl") or None,
                   region=region)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def session(self, **credentials: Any) -> boto3.Session:
        """A boto3 session for this deployment (test credentials on a local target)."""
        if not credentials and self.is_local:
            credentials = dict(LOCAL_CREDENTIALS)
        return boto3.Session(region_name=self.region, **credentials)

    def answers(self, timeout: float = 3.0) -> bool:
        """Whether a local target's endpoint answers its health check (a deployment on AWS always does)."""
        if not self.is_local:
            return True
        import requests

        try:
            return requests.get(f"{self.endpoint_url}/_localstack/health", timeout=timeout).ok
        except requests.RequestException:
            return False

    def require_up(self) -> Deployment:
        """This deployment if its endpoint answers; else the error that says so and how to start it."""
        if not self.answers():
            raise JobkitError(f"target {self.target} at {self.endpoint_url} is not up",
                              start_hint(self.target))
        return self

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        """A client of ``service`` on this deployment. Without a session, one client per service is made and
        kept (making one costs tens of milliseconds of CPU; clients are thread-safe), so a scenario polling
        the table does not spend its time building clients."""
        if session is not None:
            return session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session().client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint_url)
            return self._clients[service]

    def __getitem__(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError as exc:
            raise JobkitError(f"the deployment has no output {key!r}") from exc

    def consumer_ids(self) -> list[str]:
        return consumer_ids(self.outputs)


