"""Fixtures of the reliability tests: one embedded engine per session on a free port, clock sped up 20x.

Started exactly as ``tests/conftest.py`` starts the session engine (``EmbeddedEngine(port=0, out=None)`` from
``cdk.out``), never on 4566: nothing else uses this engine, so counts taken from its table are exact. One per
session, not per module: moto's backends are global to the process and ``EmbeddedEngine.stop`` does not reset them, so a
second engine in the same process fails to deploy (``FailedJobsEventBus already exists``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.engine.runtime import EmbeddedEngine

ROOT = Path(__file__).resolve().parents[2]
CDK_OUT = ROOT / "cdk.out"
TIME_SCALE = 20.0


@dataclass
class Sandbox:
    """A running engine, its deployment and a signed Jobs API client."""

    engine: EmbeddedEngine
    deployment: Deployment
    api: JobsApi
    outputs: Path


def start_sandbox(outputs: Path, port: int = 0) -> Sandbox:
    """Starts an engine on ``port`` (0: a free one) and loads its deployment."""
    if not (CDK_OUT / "JobsStack.template.json").is_file():
        pytest.skip("cdk.out is not synthesized (make synth)")
    engine = EmbeddedEngine(port=port, out=None)
    engine.start(CDK_OUT, outputs, time_scale=TIME_SCALE)
    deployment = Deployment.load(outputs, target="embedded")
    if not deployment.outputs.get("FaultPlanPrefix"):
        engine.stop()
        pytest.skip("cdk.out was synthesized without fault injection (make synth)")
    return Sandbox(engine, deployment, JobsApi.for_deployment(deployment), outputs)


def table_count(deployment: Deployment) -> int:
    """Items in the jobs table (a COUNT scan: fine on an engine no one else uses)."""
    ddb = deployment.client("dynamodb")
    return sum(page["Count"] for page in ddb.get_paginator("scan").paginate(
        TableName=deployment["JobsTableName"], Select="COUNT"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fuzzer last: the jobs it submits (up to 300 s each, 15 s at 20x) queue on the one stream shard."""
    fuzzing = [i for i in items if i.nodeid.startswith("tests/reliability/test_fuzz.py")]
    items[:] = [i for i in items if i not in fuzzing] + fuzzing


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("engine") / "cdk-outputs.json")
    yield running
    running.engine.stop()
