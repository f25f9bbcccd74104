"""docker-compose.yml as the source of truth: the commands that bring its LocalStack up and down (the CLI's
docker runtime runs them, ``docker.py``), and the pytest plugin's ``--runtime compose``, which takes LocalStack
from pytest-docker's ``docker_services`` fixture and deploys the stack into it with cdklocal.

pytest-docker's fixtures say which compose file and which commands (``docker_compose_file``, ``docker_setup``,
``docker_cleanup``); a project that uses jobkit's own file points them here from its conftest.py::

    from jobkit.targets.localstack import compose

    @pytest.fixture(scope="session")
    def docker_compose_file() -> str:
        return str(compose.COMPOSE_FILE)

    @pytest.fixture(scope="session")
    def docker_setup() -> list[str]:
        return compose.pytest_docker_setup()

    @pytest.fixture(scope="session")
    def docker_cleanup() -> list[str]:
        return compose.pytest_docker_cleanup()
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import WaitTimeout, wait_for
from jobkit.errors import JobkitError
from jobkit.init_hooks import after_deploy
from jobkit.project import OUTPUTS_FILE, ROOT
from jobkit.targets.localstack.deploy import deploy
from jobkit.targets.localstack.settings import DEFAULT_PORT
from jobkit.ui import Ui

COMPOSE_FILE = ROOT / "docker-compose.yml"
#: the compose service that runs LocalStack (in jobkit's file; ``--jobkit-compose-service`` names another)
SERVICE = "localstack"
#: LocalStack only, once its health check passes; the file's one-shot ``deploy`` service is left to the CLI
UP = ("up", "--detach", "--wait", SERVICE)
#: the file's ``deploy`` service: ``cdklocal bootstrap`` + ``deploy`` inside the compose network
DEPLOY = ("run", "--rm", "--build", "deploy")
DOWN = ("down", "--remove-orphans", "--timeout", "20")
#: LocalStack answers its health endpoint once its gateway listens; compose's ``--wait`` has waited for it already
HEALTH_TIMEOUT = 120.0


def pytest_docker_setup() -> list[str]:
    """``docker_setup``'s value for jobkit's compose file (pytest-docker prefixes ``docker compose -f ... -p ...``)."""
    return [shlex.join(UP)]


def pytest_docker_cleanup() -> list[str]:
    return [shlex.join(DOWN)]


class Services(Protocol):
    """What the sandbox uses of pytest-docker's ``docker_services``."""

    def port_for(self, service: str, container_port: int) -> int: ...


def health_answers(endpoint_url: str) -> bool:
    session = requests.Session()
    session.trust_env = False  # never through an HTTP proxy of the environment
    try:
        return session.get(f"{endpoint_url}/_localstack/health", timeout=2).ok
    except requests.RequestException:
        return False
    finally:
        session.close()


@dataclass
class ComposeSandbox:
    """``pytest --target localstack --runtime compose``: LocalStack is whatever ``docker_services`` started
    from the compose file; pytest-docker stops it at the session's end (its ``docker_cleanup``), so ``down``
    has nothing to stop."""

    services: Services
    docker_ip: str
    service: str = SERVICE
    outputs_file: Path = OUTPUTS_FILE
    deploy: Callable[..., Deployment] = deploy
    answers: Callable[[str], bool] = health_answers
    endpoint_url: str | None = None

    def up(self, ui: Ui) -> Deployment:
        try:
            port = self.services.port_for(self.service, DEFAULT_PORT)
        except Exception as exc:  # pytest-docker says why in a bare Exception or a ValueError
            raise JobkitError(f"compose service {self.service!r} publishes no port {DEFAULT_PORT}: {exc}",
                              "name LocalStack's service with --jobkit-compose-service") from exc
        self.endpoint_url = f"http://{self.docker_ip}:{port}"
        try:
            wait_for(lambda: self.answers(str(self.endpoint_url)), bool, timeout=HEALTH_TIMEOUT,
                     describe=f"{self.endpoint_url}/_localstack/health to answer", interval=0.2)
        except WaitTimeout as exc:
            raise JobkitError(str(exc), f"docker compose logs {self.service}") from exc
        with ui.step(f"deploying the stack with cdklocal into {self.endpoint_url}"):
            deployment = self.deploy(self.endpoint_url, ui.say, outputs_file=self.outputs_file)
        after_deploy(deployment, ui.say)  # the ready hooks (scripts/init/ready.d), as on every local target
        return deployment

    def down(self, ui: Ui) -> None:
        self.endpoint_url = None

    def running(self) -> bool:
        return self.endpoint_url is not None and self.answers(self.endpoint_url)
