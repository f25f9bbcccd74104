"""The Chaos API as the scenarios drive it: LocalStack's endpoints and shapes ("Chaos API",
https://docs.localstack.cloud/user-guide/chaos-engineering/chaos-api/), served by the embedded engine; a
target without it reports these scenarios "not run: needs chaos API". Also the job's trace and the sandbox
clock, which the scenarios that use the Chaos API read on the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from scenarios._context import ScenarioContext
from scenarios._model import expect

NEEDS = frozenset({"chaos API"})


@contextmanager
def faults(ctx: ScenarioContext, *rules: dict[str, Any]) -> Iterator[None]:
    """The rules added (PATCH) for the block, and removed (DELETE, each exactly as added) when it ends, however
    it ends: rules others set stay."""
    url = f"{ctx.deployment.endpoint_url}/_localstack/chaos/faults"
    added = requests.patch(url, json=list(rules), timeout=10)
    expect(added.status_code == 200, "the Chaos API to take the fault rules", added.text)
    try:
        yield
    finally:
        requests.delete(url, json=list(rules), timeout=10).raise_for_status()


def hops(ctx: ScenarioContext, job: str) -> list[dict[str, Any]]:
    """The job's hops so far (``GET /_jobkit/jobs/{id}/trace``); none before its first is recorded."""
    answer = requests.get(f"{ctx.deployment.endpoint_url}/_jobkit/jobs/{job}/trace", timeout=10)
    return list(answer.json()["hops"]) if answer.status_code == 200 else []


def named(found: list[dict[str, Any]], hop: str) -> list[dict[str, Any]]:
    return [h for h in found if h.get("hop") == hop]


def advance_clock(ctx: ScenarioContext, seconds: float) -> None:
    answer = requests.post(f"{ctx.deployment.endpoint_url}/_jobkit/clock", json={"advance": seconds}, timeout=10)
    expect(answer.status_code == 200, "the sandbox clock to move on", answer.text)
