"""The real ``cdklocal`` (aws-cdk-local with the pinned CDK CLI) against the session's engine, as against
LocalStack: ``cdklocal bootstrap``, then ``cdklocal deploy`` of a second CDK app beside the engine's own stack
(its function's code an asset uploaded to the bootstrap bucket, run from there) and of the engine's own
JobsStack from its cloud assembly, updated in place with its table's items kept.

cdklocal 3.0.4 with a CDK CLI of 2.177 or later reads its endpoint from ``AWS_ENDPOINT_URL`` and, if that is
set, requires ``AWS_ENDPOINT_URL_S3`` too (``aws-cdk-local/src/index.js``: ``configureEnvironment``); both
name the engine's port on 127.0.0.1, so no name has to resolve (LocalStack's default,
``localhost.localstack.cloud``, does not offline). Each CLI run has a deadline and is killed with its process
group past it. About a minute in all: the app's synthesis (jsii) and the CLI's 5-second polls of a stack's
status are most of it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.processes import signal_group
from jobkit.project import cdk_environment, npm_bin

ROOT = Path(__file__).resolve().parents[4]
APP = ROOT / "tests" / "fixtures" / "cdk_apps" / "second_stack" / "app.py"
BOTH = {"consumer_1": "Success", "consumer_2": "Success"}
pytestmark = pytest.mark.timeout(600)


@dataclass
class Cdk:
    """``cdklocal`` pointed at the session's engine."""

    env: dict[str, str]
    workdir: Path
    #: the second app, synthesized (its stack's name is the test's own)
    second_app: Path
    second_name: str

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([str(npm_bin("cdklocal")), *args], cwd=cwd or self.workdir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    @staticmethod
    def finish(process: subprocess.Popen[str], timeout: float) -> str:
        """The run's output once it exits 0; its process group killed past the deadline."""
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"cdklocal {process.args[1:]} did not finish within {timeout:.0f} s:\n{output[-3000:]}")
        assert process.returncode == 0, f"cdklocal {process.args[1:]} exited {process.returncode}:\n{output[-3000:]}"
        return output

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 240) -> str:
        return self.finish(self.start(*args, cwd=cwd), timeout)


@pytest.fixture(scope="module")
def cdk(engine: EmbeddedEngine, tmp_path_factory: pytest.TempPathFactory) -> Cdk:
    """The environment bootstrapped (``cdklocal bootstrap``) while the second app is synthesized beside it."""
    workdir = tmp_path_factory.mktemp("cdklocal")
    env = cdk_environment({"AWS_ENDPOINT_URL": engine.endpoint_url, "AWS_ENDPOINT_URL_S3": engine.endpoint_url,
                           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
    tool = Cdk(env, workdir, workdir / "second.out", f"JobkitSecond-{uuid.uuid4().hex[:8]}")
    bootstrap = tool.start("bootstrap", "aws://000000000000/us-east-1")
    synth = tool.start("synth", "--quiet", "--app", f"{sys.executable} {APP}", "-c",
                       f"stackName={tool.second_name}", "--output", str(tool.second_app))
    said = tool.finish(bootstrap, timeout=180)
    assert "Environment aws://000000000000/us-east-1 bootstrapped" in said
    tool.finish(synth, timeout=300)
    return tool


@pytest.fixture
def second_stack(cdk: Cdk, deployment: Deployment) -> Iterator[str]:
    yield cdk.second_name
    cfn = deployment.client("cloudformation")
    cfn.delete_stack(StackName=cdk.second_name)
    wait_for(lambda: [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"]
                      if s["StackName"] == cdk.second_name],
             lambda statuses: not statuses or statuses[0] == "DELETE_COMPLETE", timeout=60,
             describe="the second stack deleted")


def test_cdklocal_deploys_a_second_stack_beside_the_engines_own(
        engine: EmbeddedEngine, deployment: Deployment, cdk: Cdk, second_stack: str) -> None:
    own_outputs = dict(engine.outputs)
    outputs_file = cdk.workdir / "second-outputs.json"
    said = cdk.run("deploy", "--app", str(cdk.second_app), second_stack, "--require-approval", "never",
                   "--outputs-file", str(outputs_file))
    assert f"{second_stack} | " in said and "CREATE_COMPLETE" in said
    outputs = json.loads(outputs_file.read_text())[second_stack]

    # its function's code is the asset cdk uploaded to the bootstrap bucket, run from there
    lambdas = deployment.client("lambda")
    answer = lambdas.invoke(FunctionName=outputs["FunctionName"], Payload=json.dumps({"ping": 1}))
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"echo": {"ping": 1}, "table": outputs["TableName"]}
    code = lambdas.get_function(FunctionName=outputs["FunctionName"])["Code"]
    assert code["RepositoryType"] == "S3"
    # its stream mapping (a filter on new in- items) runs it, as the engine's own stack's do
    dynamodb = deployment.client("dynamodb")
    dynamodb.put_item(TableName=outputs["TableName"], Item={"pk": {"S": "in-1"}})
    wait_for(lambda: dynamodb.get_item(TableName=outputs["TableName"], Key={"pk": {"S": "out-1"}}).get("Item"),
             lambda item: item is not None, timeout=30, describe="the stream mapping's copy of in-1")

    cfn = deployment.client("cloudformation")
    [stack] = cfn.describe_stacks(StackName=second_stack)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} <= set(stack["Capabilities"])
    assert {s["StackName"] for s in cfn.describe_stacks()["Stacks"]} >= {"CDKToolkit", "JobsStack", second_stack}
    assert engine.outputs == own_outputs  # the engine's own stack is untouched


@pytest.fixture
def cloud_assemblies(engine: EmbeddedEngine, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two copies of the engine's cloud assembly (file assets linked, not copied): ``cdk.out`` as synthesized,
    and one whose first consumer has one more environment variable; the engine's own is restored after."""
    source = engine.template_dir
    copies = []
    for name in ("cdk.out", "changed.out"):
        out = tmp_path / name
        out.mkdir()
        for item in source.iterdir():
            if item.is_dir() and item.name.startswith("asset."):
                (out / item.name).symlink_to(item)
            elif item.is_file():
                shutil.copy(item, out / item.name)
        copies.append(out)
    try:
        yield copies[0], copies[1]
    finally:
        engine.template_dir = source
        engine.deploy()


def _consumer(template: dict[str, Any]) -> str:
    return next(k for k, v in template["Resources"].items()
                if k.startswith("Consumer1Function") and v["Type"] == "AWS::Lambda::Function")


def test_cdklocal_deploy_updates_the_engines_own_stack_in_place(
        engine: EmbeddedEngine, deployment: Deployment, cdk: Cdk, cloud_assemblies: tuple[Path, Path]) -> None:
    synthesized, changed = cloud_assemblies
    # the running stack made to differ from the cloud assembly (through the engine's own path, the quick one),
    # so that cdk deploy has an update to make
    path = changed / "JobsStack.template.json"
    template = json.loads(path.read_text())
    consumer = _consumer(template)
    template["Resources"][consumer]["Properties"]["Environment"]["Variables"]["CDKLOCAL_PROBE"] = "on"
    path.write_text(json.dumps(template))
    engine.template_dir = changed
    assert engine.deploy().updated == [consumer]
    name = deployment.outputs["Consumer1FunctionName"]
    lambdas = deployment.client("lambda")
    assert lambdas.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["CDKLOCAL_PROBE"] == "on"
    api = JobsApi.for_deployment(deployment)
    before = api.submit(1)
    api.wait_for_statuses(before, BOTH, timeout=60)
    table = deployment.outputs["JobsTableName"]

    said = cdk.run("deploy", "--app", "cdk.out", "JobsStack", "--require-approval", "never",
                   cwd=synthesized.parent)
    assert "UPDATE_COMPLETE" in said and "Consumer1Function" in said

    cfn = deployment.client("cloudformation")
    [stack] = cfn.describe_stacks(StackName="JobsStack")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert "CDKLOCAL_PROBE" not in lambdas.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    spec = engine.lambdas.function(name).spec if engine.lambdas is not None else None
    assert spec is not None and "CDKLOCAL_PROBE" not in spec.variables
    # updated in place: the same table, its items kept, and the path of a job runs on
    table_id = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table")
    assert cfn.describe_stack_resource(StackName="JobsStack", LogicalResourceId=table_id)[
        "StackResourceDetail"]["PhysicalResourceId"] == table
    assert {k: s["status"] for k, s in api.statuses(before).items()} == BOTH
    after = api.submit(1)
    api.wait_for_statuses(after, BOTH, timeout=60)
