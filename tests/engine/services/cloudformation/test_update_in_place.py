"""The stack applied again to a running engine (``POST /_jobkit/deploy``, what ``jobkit deploy`` calls): a
changed function, a new resource and a removed one, with the table's items and the jobs' path intact."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.engine.runtime import EmbeddedEngine

BOTH = {"consumer_1": "Success", "consumer_2": "Success"}


@pytest.fixture
def sandbox(engine: EmbeddedEngine, tmp_path: Path) -> Iterator[tuple[EmbeddedEngine, Path]]:
    """The session's engine, deploying from a copy of its cloud assembly (file assets linked, not copied) for
    the test, then from its own again: the second apply takes the test's changes back, in place too (moto's
    state is per process, so a second engine here could not deploy the same names)."""
    source = engine.template_dir
    out = tmp_path / "cdk.out"
    out.mkdir()
    for item in source.iterdir():
        if item.is_dir():
            (out / item.name).symlink_to(item)
        else:
            shutil.copy(item, out / item.name)
    engine.template_dir = out
    try:
        yield engine, out
    finally:
        engine.template_dir = source
        engine.deploy()


def _function_id(template: dict[str, Any], prefix: str) -> str:
    return next(k for k, v in template["Resources"].items()
                if k.startswith(prefix) and v["Type"] == "AWS::Lambda::Function")


def test_a_changed_template_is_applied_to_the_running_engine_and_the_data_stays(
        sandbox: tuple[EmbeddedEngine, Path], deployment: Deployment) -> None:
    engine, out = sandbox
    api = JobsApi.for_deployment(deployment)
    before = api.submit(1)
    api.wait_for_statuses(before, BOTH, timeout=60)

    path = out / "JobsStack.template.json"
    template = json.loads(path.read_text())
    consumer = _function_id(template, "Consumer1Function")
    props = template["Resources"][consumer]["Properties"]
    props["Timeout"] = int(props["Timeout"]) + 7
    props["Environment"]["Variables"]["IN_PLACE_PROBE"] = "on"
    template["Resources"]["InPlaceTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "in-place"}}
    template["Outputs"]["InPlaceTopicArn"] = {"Value": {"Ref": "InPlaceTopic"}}
    mapping = next(k for k, v in template["Resources"].items()
                   if v["Type"] == "AWS::Lambda::EventSourceMapping" and k.startswith("Consumer1"))
    template["Resources"][mapping]["Properties"]["MaximumBatchingWindowInSeconds"] = 1
    removed = "FailedJobsEventLogsPolicy"
    template["Resources"].pop(removed)
    path.write_text(json.dumps(template))

    answer = requests.post(f"{engine.endpoint_url}/_jobkit/deploy", timeout=120)
    assert answer.status_code == 200, answer.text
    changes = answer.json()["changes"]
    assert changes["created"] == ["InPlaceTopic"] and changes["deleted"] == [removed]
    assert sorted(changes["updated"]) == sorted([consumer, mapping]) and not changes["replaced"]

    name = deployment.outputs["Consumer1FunctionName"]
    configuration = deployment.client("lambda").get_function_configuration(FunctionName=name)
    assert configuration["Timeout"] == props["Timeout"]
    assert configuration["Environment"]["Variables"]["IN_PLACE_PROBE"] == "on"
    assert engine.lambdas is not None
    spec = engine.lambdas.function(name).spec
    assert spec is not None and spec.timeout == props["Timeout"] and spec.variables["IN_PLACE_PROBE"] == "on"

    assert engine.outputs_file is not None
    written = json.loads(engine.outputs_file.read_text())["JobsStack"]
    assert engine.stack is not None
    uuid = engine.stack.registry.resources[mapping].physical_id
    described = deployment.client("lambda").get_event_source_mapping(UUID=uuid)
    assert described["MaximumBatchingWindowInSeconds"] == 1 and described["FunctionArn"].endswith(name)
    assert written["InPlaceTopicArn"].endswith(":in-place")
    stacks = deployment.client("cloudformation").describe_stacks(StackName="JobsStack")["Stacks"]
    assert {o["OutputKey"] for o in stacks[0]["Outputs"]} >= {"InPlaceTopicArn"}
    assert {k: s["status"] for k, s in api.statuses(before).items()} == BOTH  # the job written before is kept
    after = api.submit(1)  # and the path still runs: stream, both consumers, their writes
    api.wait_for_statuses(after, BOTH, timeout=60)


def test_the_deploy_endpoint_refuses_what_it_does_not_serve(sandbox: tuple[EmbeddedEngine, Path]) -> None:
    engine, out = sandbox
    url = f"{engine.endpoint_url}/_jobkit/deploy"
    assert requests.get(url, timeout=10).status_code == 405
    refused = requests.post(url, data=b'{"template": "/etc/passwd"}', timeout=10)
    assert refused.status_code == 400 and "body must be empty" in refused.json()["message"]
    path = out / "JobsStack.template.json"
    template = json.loads(path.read_text())
    template["Resources"]["Strange"] = {"Type": "AWS::Nope::Thing", "Properties": {}}
    path.write_text(json.dumps(template))
    bad = requests.post(url, timeout=60)
    assert bad.status_code == 400 and "AWS::Nope::Thing (Strange)" in bad.json()["message"]


def test_jobkit_deploy_applies_the_stack_to_the_running_sandbox(engine: EmbeddedEngine) -> None:
    """``jobkit deploy`` (embedded): synthesized (cached here), applied in place; an unchanged stack says so."""
    from io import StringIO

    from rich.console import Console

    from jobkit.errors import JobkitError
    from jobkit.targets.embedded import deploy_in_place
    from jobkit.ui import Ui

    assert engine.server is not None
    said = StringIO()
    deployment = deploy_in_place(Ui(Console(file=said, width=200)), port=engine.server.port)
    assert "no change: the running stack is the synthesized one" in said.getvalue()
    assert deployment.target == "embedded"
    with pytest.raises(JobkitError, match=r"no embedded engine answers on 127\.0\.0\.1:9"):
        deploy_in_place(Ui(quiet=True), port=9)
