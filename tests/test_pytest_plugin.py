"""The pytest plugin: it reuses a running sandbox only when the outputs file describes the stack that runs, and
``--jobkit-reset=each`` clears the sandbox before each test that uses the deployment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.project import ROOT
from jobkit.pytest_plugin import stale_outputs
from tests.engine_process import engine_process


def test_outputs_of_the_live_stack_are_not_stale() -> None:
    live = {"JobsTableName": "JobsStack-JobsTable-b4ad", "JobsApiId": "a",
            "JobsApiUrl": "https://a.execute-api.localhost.localstack.cloud:4566/dev/"}
    written = {**live, "JobsApiUrl": "http://127.0.0.1:4566/restapis/a/dev/_user_request_/",
               "JobkitTarget": "localstack"}
    assert stale_outputs(written, live) == []  # the URL jobkit rewrote to answer offline is not a difference


def test_outputs_of_another_deployment_are_stale() -> None:
    live = {"JobsTableName": "JobsStack-JobsTable-b4ad", "JobsApiId": "a"}
    written = {"JobsTableName": "JobsStack-JobsTable-0TOH", "JobsApiId": "z", "JobkitTarget": "localstack"}
    assert stale_outputs(written, live) == ["JobsTableName", "JobsApiId"]


# tests run by an inner pytest against a sandbox: ``left`` puts a fault plan; ``untouched`` and ``kept`` do not
# use the deployment fixture (no reset before them); ``checked`` does, and sees the plan only without resets
INNER = '''
import os

import boto3
import pytest

PLAN = os.environ["PLAN"]


def ssm():
    return boto3.client("ssm", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_left(jobkit_deployment):
    jobkit_deployment.client("ssm").put_parameter(Name=PLAN, Type="String", Value="{}")


def test_untouched():
    ssm().get_parameter(Name=PLAN)


def test_kept():
    ssm().get_parameter(Name=PLAN)


def test_checked(jobs_api, request):
    found = ssm().get_parameters(Names=[PLAN])["Parameters"]
    assert len(found) == (0 if request.config.getoption("--jobkit-reset") == "each" else 1)
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Path]]:
    """The sandbox's deployment and its outputs file."""
    folder = tmp_path_factory.mktemp("sandbox")
    with engine_process(folder) as deployment:
        yield deployment, folder / "cdk-outputs.json"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("option", [["--jobkit-reset=each"], ["--jobkit-reset", "never"], []])
def test_jobkit_reset_each_clears_the_sandbox_before_each_test_that_uses_the_deployment(
        sandbox: tuple[Deployment, Path], tmp_path: Path, option: list[str]) -> None:
    deployment, outputs = sandbox
    (tmp_path / "test_inner.py").write_text(INNER)
    plan = f"{deployment['FaultPlanPrefix']}plugin-{uuid.uuid4().hex[:6]}"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py", "--target", "embedded",
         "--jobkit-outputs", str(outputs), *option], cwd=tmp_path, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PLAN": plan, "ENDPOINT": str(deployment.endpoint_url)},
        check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 passed" in ran.stdout


def test_jobkit_reset_refuses_aws(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text("def test_nothing():\n    pass\n")
    ran = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py",
                          "--target", "aws", "--jobkit-reset=each"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert ran.returncode != 0
    assert "--jobkit-reset=each clears a local sandbox's data; it never deletes data on AWS" in ran.stderr


def _inner(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)


def test_runtime_refuses_a_target_other_than_localstack(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text("def test_nothing():\n    pass\n")
    ran = _inner(tmp_path, "test_inner.py", "--target", "embedded", "--runtime", "docker")
    assert ran.returncode != 0
    assert "--runtime docker chooses where LocalStack runs: use it with --target localstack" in ran.stderr


# the sandbox a session would start, per --runtime (nothing is started: the tests look at what was chosen);
# the conftest stands in for pytest-docker's docker_services and docker_ip, as a project's conftest may
RUNTIME_CONFTEST = '''
import pytest


@pytest.fixture(scope="session")
def docker_services():
    return "the services of the compose file"


@pytest.fixture(scope="session")
def docker_ip():
    return "192.0.2.7"
'''
RUNTIME_INNER = '''
from pathlib import Path

from jobkit.pytest_plugin import _session_sandbox


def test_docker(request):
    from jobkit.targets.localstack.testcontainer import ContainerSandbox

    box = _session_sandbox(request, "localstack", Path("outputs.json"))
    assert isinstance(box, ContainerSandbox) and box.outputs_file == Path("outputs.json")


def test_compose(request):
    from jobkit.targets.localstack.compose import ComposeSandbox

    box = _session_sandbox(request, "localstack", Path("outputs.json"))
    assert isinstance(box, ComposeSandbox)
    assert (box.services, box.docker_ip, box.service) == ("the services of the compose file", "192.0.2.7", "ls")


def test_host(request):
    from jobkit.targets.localstack.sandbox import HostSandbox

    assert isinstance(_session_sandbox(request, "localstack", Path("outputs.json")), HostSandbox)
'''


@pytest.mark.parametrize("runtime", ["docker", "compose", "host"])
def test_runtime_chooses_the_sessions_sandbox(tmp_path: Path, runtime: str) -> None:
    (tmp_path / "conftest.py").write_text(RUNTIME_CONFTEST)
    (tmp_path / "test_inner.py").write_text(RUNTIME_INNER)
    ran = _inner(tmp_path, f"test_inner.py::test_{runtime}", "--target", "localstack", "--runtime", runtime,
                 "--jobkit-compose-service", "ls")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
