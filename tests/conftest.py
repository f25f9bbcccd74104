"""Settings every test session shares, and the session's one embedded engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from jobkit.client.deployment import Deployment
    from jobkit.engine.runtime import EmbeddedEngine

# jsii prints a banner about Node 20 on every start; CDK's own telemetry and version checks stay off.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "1")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")

#: pytester runs the pytest plugin against a sandbox (tests/engine/test_job_traces.py)
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]
CDK_OUT = ROOT / "cdk.out"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that use the session's engine run after the others, each group in its order: moto's backends are
    global to the process, and a test of moto itself under ``mock_aws`` (tests/engine/moto, tests/unit) resets
    them when it ends, the deployment of an engine started before it with them."""
    users = [item for item in items if "engine" in getattr(item, "fixturenames", ())]
    if users:
        chosen = set(users)
        items[:] = [item for item in items if item not in chosen] + users


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEngine]:
    """The synthesized stack in an engine on a free port (start ~2 s). One per session, shared by every folder
    that needs one (tests/engine, tests/cli): moto's backends are global to the process, so a second engine in
    the same process fails to deploy. Imported here, not at the top: most sessions never start one."""
    if not (CDK_OUT / "JobsStack.template.json").is_file():
        pytest.skip("cdk.out is not synthesized (make synth)")
    from jobkit.engine.runtime import EmbeddedEngine

    outputs = tmp_path_factory.mktemp("engine") / "cdk-outputs.json"
    running = EmbeddedEngine(port=0, out=None)
    running.start(CDK_OUT, outputs, time_scale=1.0)
    running.outputs_file = outputs  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="session")
def deployment(engine: EmbeddedEngine) -> Deployment:
    from jobkit.client.deployment import Deployment

    return Deployment.load(engine.outputs_file, target="embedded")  # type: ignore[attr-defined]


# `pytest --target localstack --runtime compose`: pytest-docker's docker_services runs jobkit's own compose file
@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    from jobkit.targets.localstack import compose

    return str(compose.COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    from jobkit.targets.localstack import compose

    return compose.pytest_docker_setup()


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    from jobkit.targets.localstack import compose

    return compose.pytest_docker_cleanup()
