"""A saved handler reaches the running engine's functions (``jobkit.targets.embedded.follow``, what ``jobkit up``
runs in the foreground): the next job runs the new code, a syntax error leaves the old code serving.

The project here is a copy of the handlers in a folder of the test; the functions are put back on their
template code at the end, so the session's engine serves as before."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.errors import JobkitError
from jobkit.live import Watcher
from jobkit.targets.embedded import follow

ROOT = Path(__file__).resolve().parents[2]
BOTH = {"consumer_1": "Success", "consumer_2": "Success"}


@pytest.fixture
def watched(engine: EmbeddedEngine, deployment: Deployment, tmp_path: Path) -> Iterator[tuple[Path, io.StringIO]]:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "handlers", project / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "stack").mkdir()
    lines = io.StringIO()
    before, engine.hops.out = engine.hops.out, lines
    watcher: Watcher = follow(engine, deployment, tmp_path / "snapshots", project).start()
    try:
        yield project, lines
    finally:
        watcher.stop()
        engine.hops.out = before
        assert engine.stack is not None
        lam = deployment.client("lambda")
        for resource in engine.stack.registry.of_type("AWS::Lambda::Function"):  # back on the template's code
            code = resource.properties["Code"]
            lam.update_function_code(FunctionName=resource.physical_id, S3Bucket=code["S3Bucket"],
                                     S3Key=code["S3Key"])


def test_a_saved_handler_runs_in_the_next_job_and_a_broken_one_changes_nothing(
        watched: tuple[Path, io.StringIO], deployment: Deployment) -> None:
    project, lines = watched
    api = JobsApi.for_deployment(deployment)
    status = project / "handlers" / "domain" / "status.py"
    status.write_text(status.read_text().replace('f"I slept for {seconds} seconds"',
                                                 'f"I slept for {seconds} seconds, live"'))
    wait_for(lines.getvalue, lambda text: "code reloaded" in text, timeout=10, describe="the reload's hop line")
    reloaded = next(line for line in lines.getvalue().splitlines() if "code reloaded" in line)
    assert "handlers/domain/status.py ->" in reloaded and deployment.outputs["Consumer1FunctionName"] in reloaded
    job = api.submit(1)
    seen = api.wait_for_statuses(job, BOTH, timeout=60)
    assert seen["consumer_1"]["results"] == "I slept for 1 seconds, live"

    status.write_text(status.read_text() + "\ndef broken(:\n")
    wait_for(lines.getvalue, lambda text: "code not reloaded" in text, timeout=10,
             describe="the syntax error's hop line")
    refused = next(line for line in lines.getvalue().splitlines() if "code not reloaded" in line)
    assert "handlers/domain/status.py:" in refused and "the code that runs stays" in refused
    job = api.submit(1)
    assert api.wait_for_statuses(job, BOTH, timeout=60)["consumer_2"]["results"] == "I slept for 1 seconds, live"


def test_a_saved_stack_is_synthesized_and_applied_and_a_failed_synth_changes_nothing(
        engine: EmbeddedEngine, deployment: Deployment, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "stack").mkdir(parents=True)
    (project / "stack" / "app.py").write_text("# v1\n")
    source = engine.template_dir
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    for item in source.iterdir():
        if item.is_dir():
            (assembly / item.name).symlink_to(item)
        else:
            shutil.copy(item, assembly / item.name)
    template_path = assembly / "JobsStack.template.json"
    template = json.loads(template_path.read_text())
    template["Resources"]["LiveTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "live-topic"}}
    template_path.write_text(json.dumps(template))
    failing = {"now": True}

    def synthesize() -> Path:
        if failing["now"]:
            raise JobkitError("cdk synth failed (exit 1): SyntaxError: invalid syntax (app.py, line 1)")
        return assembly

    lines = io.StringIO()
    before, engine.hops.out = engine.hops.out, lines
    watcher = follow(engine, deployment, tmp_path / "snapshots", project, synthesize).start()
    try:
        (project / "stack" / "app.py").write_text("# v2 broken\n")
        wait_for(lines.getvalue, lambda text: "stack not applied" in text, timeout=10, describe="the refusal")
        assert "SyntaxError" in lines.getvalue() and "the stack that runs stays" in lines.getvalue()
        assert engine.template_dir == source
        failing["now"] = False
        (project / "stack" / "app.py").write_text("# v3\n")
        wait_for(lines.getvalue, lambda text: "stack applied" in text, timeout=30, describe="the deployment")
        assert "created LiveTopic" in lines.getvalue()
        topics = deployment.client("sns").list_topics()["Topics"]
        assert any(t["TopicArn"].endswith(":live-topic") for t in topics)
    finally:
        watcher.stop()
        engine.hops.out = before
        engine.deploy(source)  # the session's stack as it was
    assert not any(t["TopicArn"].endswith(":live-topic") for t in deployment.client("sns").list_topics()["Topics"])
