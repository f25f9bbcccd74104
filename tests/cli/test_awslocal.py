"""awslocal (installed by ``make setup``) against the sandbox, as its users call it: no endpoint option, only the
environment (LOCALSTACK_HOST, or AWS_ENDPOINT_URL from ``jobkit env``). Never a public host name:
localhost.localstack.cloud does not resolve offline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobkit.client.deployment import Deployment
from tests.cli.conftest import Cli, shell_environment

AWSLOCAL = Path(sys.executable).with_name("awslocal")


def _run(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``argv`` in a process group of its own, killed whole at the deadline."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    if not AWSLOCAL.exists():
        pytest.fail(f"awslocal is not installed beside {sys.executable}: run `make setup`")
    env = shell_environment(tmp_path)
    # awscli-local's notice that LocalStack's own CLI replaces it, on stderr at every call
    env["DISABLE_DEPRECATION_NOTICE"] = "1"
    env["PATH"] = f"{AWSLOCAL.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _scanned_ids(proc: subprocess.CompletedProcess[str]) -> set[str]:
    assert proc.returncode == 0, proc.stderr
    return {item["id"]["S"] for item in json.loads(proc.stdout)["Items"]}


def test_awslocal_with_localstack_host_scans_the_jobs_table(deployment: Deployment, finished_job: str,
                                                            environment: dict[str, str]) -> None:
    assert deployment.endpoint_url is not None
    address = urlsplit(deployment.endpoint_url)
    # awslocal's own defaults supply the region and dummy keys
    environment["LOCALSTACK_HOST"] = f"{address.hostname}:{address.port}"
    proc = _run([str(AWSLOCAL), "dynamodb", "scan", "--table-name", deployment["JobsTableName"]], environment)
    assert finished_job in _scanned_ids(proc)


def test_awslocal_after_jobkit_env_scans_the_jobs_table(cli: Cli, outputs_file: Path, deployment: Deployment,
                                                        finished_job: str, environment: dict[str, str]) -> None:
    exports = cli("env", "--outputs", str(outputs_file)).out
    proc = _run(["bash", "-c", 'eval "$1" && exec awslocal dynamodb scan --table-name "$2"', "bash", exports,
                 deployment["JobsTableName"]], environment)
    assert finished_job in _scanned_ids(proc)


def test_the_aws_cli_after_jobkit_env_needs_no_endpoint_option(cli: Cli, outputs_file: Path, deployment: Deployment,
                                                                finished_job: str, environment: dict[str, str]) -> None:
    aws = shutil.which("aws", path=environment["PATH"])
    assert aws is not None and Path(aws).parent == AWSLOCAL.parent
    exports = cli("env", "--outputs", str(outputs_file)).out
    proc = _run(["bash", "-c", 'eval "$1" && exec aws dynamodb get-item --table-name "$2" --key "$3"', "bash",
                 exports, deployment["JobsTableName"], json.dumps({"id": {"S": finished_job}})], environment)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Item"]["id"]["S"] == finished_job
