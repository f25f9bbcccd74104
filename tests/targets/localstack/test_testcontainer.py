"""The pytest plugin's docker runtime, wired without a Docker engine: the container testcontainers would start
(image, settings, ports, the Docker socket) and what the sandbox does with it (deploys into its URL, writes the
outputs file it was given, stops it). The run against a real engine is tests/docker/test_testcontainers_runtime.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.project import ROOT
from jobkit.sandbox import REGION
from jobkit.targets.localstack.settings import shared_settings
from jobkit.targets.localstack.testcontainer import (
    DOCKER_SETTINGS,
    LOCALSTACK_IMAGE,
    ContainerSandbox,
    build_container,
    container_settings,
)
from jobkit.ui import Ui

#: an API version given up front: docker-py then asks no engine for it, so the container is built offline
OFFLINE_CLIENT = {"version": "1.44"}


def compose_localstack() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["localstack"]


def test_the_container_runs_the_image_docker_compose_pins() -> None:
    assert container_settings({}).image == LOCALSTACK_IMAGE == compose_localstack()["image"]


def test_the_container_has_the_settings_both_runtimes_share_and_the_docker_ones_compose_has() -> None:
    env = container_settings({"PATH": "/usr/bin"}).env
    assert env == {**shared_settings(), **DOCKER_SETTINGS}  # nothing else of the caller's environment
    compose_env = compose_localstack()["environment"]
    assert all(env[k] == compose_env[k] == v for k, v in DOCKER_SETTINGS.items())
    assert "LOCALSTACK_AUTH_TOKEN" not in env


def test_an_auth_token_of_the_callers_environment_is_passed_on() -> None:
    assert container_settings({"LOCALSTACK_AUTH_TOKEN": "ls-abc"}).env["LOCALSTACK_AUTH_TOKEN"] == "ls-abc"
    assert "LOCALSTACK_AUTH_TOKEN" not in container_settings({"LOCALSTACK_AUTH_TOKEN": ""}).env


def test_the_built_container_exposes_4566_on_a_free_port_and_mounts_the_docker_socket() -> None:
    settings = container_settings({})
    container = build_container(settings, docker_client_kw=OFFLINE_CLIENT)
    assert container.image == LOCALSTACK_IMAGE
    assert container.ports == {"4566": None}  # None: Docker picks the host port, so 4566 on this host stays free
    assert container.volumes == {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}
    assert settings.env.items() <= container.env.items()
    assert container.env["AWS_DEFAULT_REGION"] == REGION == container.region_name


@dataclass
class FakeContainer:
    url: str = "http://localhost:32781"
    calls: list[str] = field(default_factory=list)

    def start(self, timeout: float = 60) -> FakeContainer:
        self.calls.append("start")
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        self.calls.append("stop")

    def get_url(self) -> str:
        return self.url


@dataclass
class FakeDeploy:
    fail: bool = False
    seen: list[tuple[str, Path]] = field(default_factory=list)

    def __call__(self, endpoint_url: str, say: Any, *, outputs_file: Path) -> Deployment:
        self.seen.append((endpoint_url, outputs_file))
        if self.fail:
            raise JobkitError("cdklocal deploy failed (exit 1)")
        return Deployment(target="localstack", outputs={}, endpoint_url=endpoint_url, region=REGION)


def test_up_deploys_into_the_containers_url_and_down_stops_it(tmp_path: Path) -> None:
    container, deploy = FakeContainer(), FakeDeploy()
    box = ContainerSandbox(outputs_file=tmp_path / "out.json", make_container=lambda: container, deploy=deploy,
                           engine_answers=lambda: True)
    deployment = box.up(Ui(quiet=True))
    assert deploy.seen == [(container.url, tmp_path / "out.json")]
    assert deployment.endpoint_url == container.url
    assert box.running()
    box.down(Ui(quiet=True))
    assert container.calls == ["start", "stop"]
    assert not box.running()


def test_a_failed_deploy_stops_the_container(tmp_path: Path) -> None:
    container = FakeContainer()
    box = ContainerSandbox(outputs_file=tmp_path / "out.json", make_container=lambda: container,
                           deploy=FakeDeploy(fail=True), engine_answers=lambda: True)
    with pytest.raises(JobkitError, match="cdklocal deploy failed"):
        box.up(Ui(quiet=True))
    assert container.calls == ["start", "stop"]


def test_without_a_docker_engine_up_says_so_and_builds_no_container(tmp_path: Path) -> None:
    def no_container() -> FakeContainer:
        raise AssertionError("no container is built without an engine")

    box = ContainerSandbox(outputs_file=tmp_path / "out.json", make_container=no_container, deploy=FakeDeploy(),
                           engine_answers=lambda: False)
    with pytest.raises(JobkitError, match="needs a Docker engine, and none answers here"):
        box.up(Ui(quiet=True))
