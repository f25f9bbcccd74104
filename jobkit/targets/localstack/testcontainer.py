"""The pytest plugin's docker runtime of the localstack target: LocalStack in a container that testcontainers
starts for the session, the stack deployed into it with cdklocal from this machine, the container stopped at the
end. testcontainers' reaper (Ryuk) removes the container when the session's process dies without stopping it.

The container is given a free host port (never 4566, which a sandbox on this machine may hold), so a session on
this runtime runs beside ``jobkit up``. The CLI's docker runtime stays docker compose (``docker.py``): a
container of testcontainers is reaped once its process exits, and ``jobkit up --detach`` exits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.init_hooks import after_deploy
from jobkit.project import OUTPUTS_FILE
from jobkit.sandbox import REGION
from jobkit.targets.localstack.deploy import deploy
from jobkit.targets.localstack.settings import DEFAULT_PORT, shared_settings
from jobkit.targets.registry import docker_engine_answers
from jobkit.ui import Ui

if TYPE_CHECKING:
    from testcontainers.community.localstack import LocalStackContainer

#: The last image that starts without LOCALSTACK_AUTH_TOKEN (docker-compose.yml pins the same tag).
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
#: LocalStack runs each Lambda function in a container of its own: it needs the Docker engine's socket.
DOCKER_SOCKET = "/var/run/docker.sock"
#: What the container adds to ``localstack.env`` (docker-compose.yml's ``environment:`` says the same):
#: jobkit's CloudFormation providers are plugins of the host runtime only, so in the image LocalStack skips the
#: archive and jobkit's post-deploy check creates it from the template's own properties.
DOCKER_SETTINGS = {"CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1"}
#: Passed on from the caller's environment when set: a token lets a newer image start.
PASSED_ON = ("LOCALSTACK_AUTH_TOKEN",)
#: The first start pulls the image (about 1 GB); LocalStack's "Ready." follows within seconds of its start.
START_TIMEOUT = 600.0


@dataclass(frozen=True)
class ContainerSettings:
    """Everything the container is started with, as data: what the wiring's tests check without Docker."""

    image: str
    env: dict[str, str]
    edge_port: int
    region: str
    #: (host path, container path, mode), testcontainers' ``with_volume_mapping`` arguments
    volumes: tuple[tuple[str, str, str], ...]


def container_settings(environ: Mapping[str, str] = os.environ) -> ContainerSettings:
    env = {**shared_settings(), **DOCKER_SETTINGS}
    env.update({name: environ[name] for name in PASSED_ON if environ.get(name)})
    return ContainerSettings(image=LOCALSTACK_IMAGE, env=env, edge_port=DEFAULT_PORT, region=REGION,
                             volumes=((DOCKER_SOCKET, DOCKER_SOCKET, "rw"),))


def build_container(settings: ContainerSettings, docker_client_kw: dict[str, Any] | None = None
                    ) -> LocalStackContainer:
    """The testcontainers LocalStack module's container with ``settings`` applied; nothing is started."""
    try:
        from testcontainers.community.localstack import LocalStackContainer
    except ImportError as exc:
        raise JobkitError("the docker runtime of the pytest plugin needs testcontainers",
                          "pip install 'testcontainers[localstack]' (jobkit's own dependencies pin it)") from exc
    container = LocalStackContainer(image=settings.image, edge_port=settings.edge_port,
                                    region_name=settings.region, docker_client_kw=docker_client_kw)
    container.with_envs(**settings.env)
    for host, inside, mode in settings.volumes:
        container.with_volume_mapping(host, inside, mode)
    return container


class Container(Protocol):
    """What the sandbox uses of a testcontainers container."""

    def start(self, timeout: float = ...) -> Any: ...

    def stop(self, force: bool = ..., delete_volume: bool = ...) -> None: ...

    def get_url(self) -> str: ...


Deploy = Callable[..., Deployment]


@dataclass
class ContainerSandbox:
    """``pytest --target localstack --runtime docker``: the container up, cdklocal against its URL, the container
    stopped by ``down`` (or by the reaper after a crash)."""

    outputs_file: Path = OUTPUTS_FILE
    make_container: Callable[[], Container] = field(default=lambda: build_container(container_settings()))
    deploy: Deploy = deploy
    engine_answers: Callable[[], bool] = docker_engine_answers
    container: Container | None = None

    def up(self, ui: Ui) -> Deployment:
        if not self.engine_answers():
            raise JobkitError("--runtime docker needs a Docker engine, and none answers here (`docker info` fails)",
                              "start Docker, or use --runtime host")
        container = self.make_container()
        self.container = container
        try:
            with ui.step(f"starting {LOCALSTACK_IMAGE} (testcontainers, waiting for its Ready. line)"):
                container.start(timeout=START_TIMEOUT)
            endpoint_url = container.get_url()
            with ui.step(f"deploying the stack with cdklocal into {endpoint_url}"):
                deployment = self.deploy(endpoint_url, ui.say, outputs_file=self.outputs_file)
            after_deploy(deployment, ui.say)  # the ready hooks (scripts/init/ready.d), as on every local target
            return deployment
        except BaseException:
            self.down(ui)  # a sandbox that failed to come up leaves no container behind
            raise

    def down(self, ui: Ui) -> None:
        container, self.container = self.container, None
        if container is not None:
            with ui.step("stopping the LocalStack container"):
                container.stop()

    def running(self) -> bool:
        return self.container is not None
