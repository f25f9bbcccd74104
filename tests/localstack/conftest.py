"""The LocalStack host runtime, once per test session.

``localstack_host`` brings LocalStack's engine up on this machine (port 4566) unless one already answers
there, yields its address and region, and brings it down at the end if this session started it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from jobkit.project import ROOT
from jobkit.sandbox import REGION
from jobkit.targets.localstack.host import HostRuntime
from jobkit.targets.localstack.settings import DEFAULT_PORT
from jobkit.ui import Ui

# one attempt per call: a retried 500 must not hide behind the retry's answer
_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)


@dataclass
class LocalStackHost:
    endpoint_url: str
    region: str
    runtime: HostRuntime
    started_here: bool  # False: reused an engine that already ran (ours or another one on the port)

    @property
    def ours(self) -> bool:
        """This project's host engine (not, e.g., a docker-compose LocalStack on the same port)."""
        return self.runtime.status().running

    def client(self, service: str) -> Any:
        session: Any = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                             region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG)


def _answers(endpoint_url: str) -> bool:
    session = requests.Session()
    session.trust_env = False
    try:
        return session.get(f"{endpoint_url}/_localstack/health", timeout=2).ok
    except requests.RequestException:
        return False
    finally:
        session.close()


@pytest.fixture(scope="session")
def localstack_host() -> Iterator[LocalStackHost]:
    runtime = HostRuntime(ROOT, port=DEFAULT_PORT, region=REGION)
    if runtime.status().running or _answers(runtime.endpoint_url):
        yield LocalStackHost(runtime.endpoint_url, REGION, runtime, started_here=False)
        return
    runtime.up(Ui(quiet=True), timeout=300)  # a fresh machine builds the engine's environment first
    try:
        yield LocalStackHost(runtime.endpoint_url, REGION, runtime, started_here=True)
    finally:
        runtime.down(Ui(quiet=True))
