"""docker-compose.yml through pytest-docker, wired without a Docker engine: the compose file and the commands
pytest-docker would run with jobkit's fixtures, and the address the sandbox deploys into. The run against a real
engine is tests/docker/test_testcontainers_runtime.py."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_docker.plugin import get_docker_services

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.project import ROOT
from jobkit.sandbox import REGION
from jobkit.targets.localstack import compose
from jobkit.targets.localstack.compose import ComposeSandbox
from jobkit.ui import Ui


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(compose.COMPOSE_FILE.read_text())["services"]


def test_the_compose_file_is_the_projects_and_its_localstack_publishes_4566(services: dict[str, Any]) -> None:
    assert compose.COMPOSE_FILE == ROOT / "docker-compose.yml"
    assert "127.0.0.1:4566:4566" in services[compose.SERVICE]["ports"]


def test_the_commands_name_the_files_services(services: dict[str, Any]) -> None:
    assert compose.UP[-1] in services and compose.DEPLOY[-1] in services
    assert "healthcheck" in services[compose.UP[-1]]  # what `up --wait` waits on


def test_pytest_docker_runs_jobkits_compose_file_with_jobkits_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def execute(command: str, **_: Any) -> bytes:
        ran.append(command)
        return b""

    monkeypatch.setattr("pytest_docker.plugin.execute", execute)
    with get_docker_services("docker compose", str(compose.COMPOSE_FILE), "pytest42",
                             compose.pytest_docker_setup(), compose.pytest_docker_cleanup()):
        assert ran == [f'docker compose -f "{compose.COMPOSE_FILE}" -p "pytest42" up --detach --wait localstack']
    assert ran[1:] == [f'docker compose -f "{compose.COMPOSE_FILE}" -p "pytest42" down --remove-orphans --timeout 20']
    assert shlex.split(ran[1])[-4:] == list(compose.DOWN)


@dataclass
class FakeServices:
    port: int = 4566
    asked: list[tuple[str, int]] = field(default_factory=list)

    def port_for(self, service: str, container_port: int) -> int:
        self.asked.append((service, container_port))
        if service != "localstack":
            raise ValueError(f'Could not detect port for "{service}:{container_port}".')
        return self.port


@dataclass
class FakeDeploy:
    seen: list[tuple[str, Path]] = field(default_factory=list)

    def __call__(self, endpoint_url: str, say: Any, *, outputs_file: Path) -> Deployment:
        self.seen.append((endpoint_url, outputs_file))
        return Deployment(target="localstack", outputs={}, endpoint_url=endpoint_url, region=REGION)


def test_up_deploys_into_the_port_compose_published_once_localstack_answers(tmp_path: Path) -> None:
    answers = iter([False, False, True])
    services, deploy = FakeServices(port=45666), FakeDeploy()
    box = ComposeSandbox(services=services, docker_ip="127.0.0.1", outputs_file=tmp_path / "out.json",
                         deploy=deploy, answers=lambda _url: next(answers, True))
    deployment = box.up(Ui(quiet=True))
    assert services.asked == [("localstack", 4566)]
    assert deploy.seen == [("http://127.0.0.1:45666", tmp_path / "out.json")]
    assert deployment.endpoint_url == "http://127.0.0.1:45666"


def test_a_service_that_publishes_no_4566_is_named(tmp_path: Path) -> None:
    box = ComposeSandbox(services=FakeServices(), docker_ip="127.0.0.1", service="aws",
                         outputs_file=tmp_path / "out.json", deploy=FakeDeploy())
    with pytest.raises(JobkitError, match="compose service 'aws' publishes no port 4566") as raised:
        box.up(Ui(quiet=True))
    assert "--jobkit-compose-service" in str(raised.value)


def test_a_localstack_that_never_answers_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "HEALTH_TIMEOUT", 0.3)
    deploy = FakeDeploy()
    box = ComposeSandbox(services=FakeServices(), docker_ip="127.0.0.1", outputs_file=tmp_path / "out.json",
                         deploy=deploy, answers=lambda _url: False)
    with pytest.raises(JobkitError, match=r"http://127.0.0.1:4566/_localstack/health to answer"):
        box.up(Ui(quiet=True))
    assert deploy.seen == []
