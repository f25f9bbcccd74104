"""The pytest plugin's Docker runtimes end to end: ``--runtime docker`` (testcontainers starts LocalStack, cdklocal
deploys into it, a signed job succeeds, the container is stopped) and ``--runtime compose`` (pytest-docker's
``docker_services`` over docker-compose.yml). Needs a Docker engine (these CI machines have none); the wiring is
tested without one in tests/targets/localstack/test_testcontainer.py and test_compose.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobkit.project import ROOT
from jobkit.targets.registry import docker_engine_answers

pytestmark = pytest.mark.skipif(not docker_engine_answers(),
                                reason="no Docker engine answers here (`docker info` fails)")

INNER = '''
def test_a_job_succeeds(jobs_api, jobkit_deployment):
    job = jobs_api.submit(1)
    seen = jobs_api.wait_for_statuses(job, dict.fromkeys(jobkit_deployment.consumer_ids(), "Success"), timeout=180)
    assert all(s["results"] == "I slept for 1 seconds" for s in seen.values())
'''
#: jobkit's own compose file for pytest-docker, as the README tells a project to write it
COMPOSE_CONFTEST = '''
import pytest

from jobkit.targets.localstack import compose


@pytest.fixture(scope="session")
def docker_compose_file():
    return str(compose.COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_setup():
    return compose.pytest_docker_setup()


@pytest.fixture(scope="session")
def docker_cleanup():
    return compose.pytest_docker_cleanup()
'''


def _containers() -> set[str]:
    proc = subprocess.run(["docker", "ps", "--quiet", "--filter", "ancestor=localstack/localstack:4.14.0"],
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("runtime", ["docker", "compose"])
def test_the_plugin_starts_localstack_in_docker_deploys_and_stops_it(tmp_path: Path, runtime: str) -> None:
    before = _containers()
    (tmp_path / "test_inner.py").write_text(INNER)
    if runtime == "compose":
        (tmp_path / "conftest.py").write_text(COMPOSE_CONFTEST)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py", "--target", "localstack",
         "--runtime", runtime, "--jobkit-outputs", str(tmp_path / "cdk-outputs.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=1700, env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert _containers() <= before  # the session stopped the LocalStack it started
