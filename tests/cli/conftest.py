"""Fixtures of the CLI's tests against the session's engine (``tests/conftest.py``): its outputs file, a signed
Jobs API client, jobs run to the end, and the CLI called in this process."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jobkit.cli import main
from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi

if TYPE_CHECKING:
    from jobkit.engine.runtime import EmbeddedEngine

BOTH = {"consumer_1": "Success", "consumer_2": "Success"}


@dataclass
class Ran:
    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("logs", "consumer1", ...)``: ``jobkit.cli.main`` in this process, its exit code and output."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def outputs_file(engine: EmbeddedEngine) -> Path:
    return Path(engine.outputs_file)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def api(deployment: Deployment) -> JobsApi:
    return JobsApi.for_deployment(deployment)


@pytest.fixture
def finished_job(api: JobsApi) -> str:
    """A job both consumers ran to Success."""
    job_id = api.submit(1)
    api.wait_for_statuses(job_id, BOTH, timeout=60)
    return job_id


def shell_environment(home: Path) -> dict[str, str]:
    """This process's environment without its AWS settings, and no shared config or credentials files: what a
    command run with it knows of AWS is what the test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"HOME": str(home), "AWS_CONFIG_FILE": str(home / "no-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials")})
    return env
