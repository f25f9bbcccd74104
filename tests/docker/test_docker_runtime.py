"""The docker runtime end to end: ``docker compose`` brings LocalStack and the deploy service up, a signed
job succeeds, and the compose project comes down. Needs a Docker engine (these CI machines have none)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.targets.localstack.docker import DockerSandbox
from jobkit.targets.registry import docker_engine_answers
from jobkit.ui import Ui

pytestmark = pytest.mark.skipif(not docker_engine_answers(),
                                reason="no Docker engine answers here (`docker info` fails)")


@pytest.fixture(scope="module")
def compose_deployment() -> Iterator[Deployment]:
    box = DockerSandbox()
    try:
        yield box.up(Ui(quiet=True))
    finally:
        box.down(Ui(quiet=True))


def test_compose_up_deploys_a_working_sandbox(compose_deployment: Deployment) -> None:
    api = JobsApi.for_deployment(compose_deployment)
    job = api.submit(1)
    seen = api.wait_for_statuses(job, dict.fromkeys(compose_deployment.consumer_ids(), "Success"), timeout=120)
    assert all(s["results"] == "I slept for 1 seconds" for s in seen.values())


def test_compose_deploy_created_the_archive(compose_deployment: Deployment) -> None:
    name = compose_deployment["FailedJobsEventArchiveName"]
    assert compose_deployment.client("events").describe_archive(ArchiveName=name)["ArchiveName"] == name
