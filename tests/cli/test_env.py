"""``jobkit env``: exports that point the AWS CLI, the SDKs and awslocal at a deployment."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from jobkit.client.deployment import Deployment
from tests.cli.conftest import Cli, shell_environment

EXPORT = re.compile(r"export (?P<name>[A-Z_]+)=(?P<value>\S+)")


def exported(text: str) -> dict[str, str]:
    lines = text.splitlines()
    matches = [EXPORT.fullmatch(line) for line in lines]
    assert all(matches), text
    return {m["name"]: shlex.split(m["value"])[0] for m in matches if m}


def test_the_exports_name_the_sandbox_endpoint_region_and_dummy_keys(cli: Cli, outputs_file: Path,
                                                                     deployment: Deployment) -> None:
    ran = cli("env", "--outputs", str(outputs_file))
    assert ran.code == 0 and ran.err == ""
    assert exported(ran.out) == {"AWS_ENDPOINT_URL": deployment.endpoint_url, "AWS_REGION": "us-east-1",
                                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                                 "AWS_SECRET_ACCESS_KEY": "test"}


def test_boto3_after_eval_in_bash_reaches_the_engine(cli: Cli, outputs_file: Path, deployment: Deployment,
                                                     tmp_path: Path) -> None:
    exports = cli("env", "--outputs", str(outputs_file)).out
    # boto3 with no endpoint, region nor keys of its own: all of it comes from the exports
    probe = "import boto3, json; print(json.dumps(boto3.client('dynamodb').list_tables()['TableNames']))"
    proc = subprocess.run(["bash", "-c", 'eval "$1" && exec "$2" -c "$3"', "bash", exports, sys.executable, probe],
                          capture_output=True, text=True, timeout=60, check=False, env=shell_environment(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert deployment["JobsTableName"] in json.loads(proc.stdout)


def test_on_aws_only_the_stacks_region_is_exported(cli: Cli, tmp_path: Path) -> None:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps({"JobsStack": {
        "JobsApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/dev/",
        "JobsApiInvokeRoleArn": "arn:aws:iam::123456789012:role/r", "JobsTableName": "t",
        "JobsTableStreamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"}}))
    ran = cli("env", "--target", "aws", "--outputs", str(outputs))
    assert ran.code == 0
    assert exported(ran.out) == {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert "only the region" in ran.err
