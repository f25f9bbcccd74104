"""``jobkit reset --target localstack``'s logic, through the AWS APIs: here against the embedded engine (in a
process of its own), which serves the same APIs, so that it runs without LocalStack; LocalStack's own run is in
``tests/localstack/test_reset.py``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.targets.localstack.reset import reset
from tests.engine_process import engine_process

BOTH = ("consumer_1", "consumer_2")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with engine_process(tmp_path_factory.mktemp("sandbox")) as deployment:
        yield deployment


def _resources(deployment: Deployment) -> dict[str, Any]:
    lambdas, events = deployment.client("lambda"), deployment.client("events")
    archive = events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])
    return {
        "functions": sorted(f["FunctionName"] for f in lambdas.list_functions()["Functions"]),
        "mappings": len(lambdas.list_event_source_mappings(EventSourceArn=deployment["JobsTableStreamArn"])[
            "EventSourceMappings"]),
        "rules": sorted(r["Name"] for r in events.list_rules(EventBusName=deployment["FailedJobsEventBusName"])[
            "Rules"]),
        "archive": {k: archive.get(k) for k in ("ArchiveArn", "EventSourceArn", "Description", "EventPattern",
                                                "RetentionDays", "State")},
        "log groups": sorted(g["logGroupName"] for g in deployment.client("logs").describe_log_groups()["logGroups"]),
    }


def _put_event(deployment: Deployment) -> None:
    deployment.client("events").put_events(Entries=[{
        "Source": "jobkit.tests", "DetailType": "reset", "Detail": json.dumps({"n": 1}),
        "EventBusName": deployment["FailedJobsEventBusName"]}])


def _archived(deployment: Deployment) -> int:
    archive = deployment.client("events").describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])
    return int(archive["EventCount"])


@pytest.mark.timeout(300)
def test_reset_through_the_apis_clears_the_data_and_keeps_the_resources(sandbox: Deployment) -> None:
    api = JobsApi.for_deployment(sandbox)
    ssm, sqs, logs = sandbox.client("ssm"), sandbox.client("sqs"), sandbox.client("logs")
    table = sandbox["JobsTableName"]
    job = api.submit(1)
    api.wait_for_statuses(job, dict.fromkeys(BOTH, "Success"), timeout=60)
    plans = [f"{sandbox['FaultPlanPrefix']}plan-{n}" for n in range(12)]  # more than one DeleteParameters call
    for name in plans:
        ssm.put_parameter(Name=name, Type="String", Value="{}")
    kept = f"/jobkit/kept-{uuid.uuid4().hex[:6]}"
    ssm.put_parameter(Name=kept, Type="String", Value="stays")
    url = sqs.create_queue(QueueName="api-reset")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left over")
    _put_event(sandbox)
    wait_for(lambda: _archived(sandbox), lambda n: n >= 1, timeout=10, describe="the event in the archive")
    consumer_logs = next(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]
                         if "Consumer1Function" in g["logGroupName"])
    wait_for(lambda: logs.filter_log_events(logGroupName=consumer_logs)["events"], bool, timeout=10,
             describe="the consumer's log events")
    resources = _resources(sandbox)

    summary = reset(sandbox)

    cleared = summary["cleared"]
    assert cleared["dynamodb"] == {"items": 1}
    assert cleared["ssm"] == {"faultPlans": 12}
    assert cleared["sqs"] == {"queues": 1, "messages": 1}
    assert cleared["events"]["archivesRecreated"] == 1 and cleared["events"]["archivedEvents"] >= 1
    assert cleared["logs"]["logStreamsEmptied"] >= 1
    assert summary["milliseconds"] > 0
    assert sandbox.client("dynamodb").scan(TableName=table)["Items"] == []
    assert all(not ssm.get_parameters(Names=plans[n:n + 10])["Parameters"] for n in (0, 10))
    assert ssm.get_parameter(Name=kept)["Parameter"]["Value"] == "stays"
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    assert _archived(sandbox) == 0
    assert logs.filter_log_events(logGroupName=consumer_logs)["events"] == []
    assert _resources(sandbox) == resources  # the archive again with its name, bus, pattern and retention
    # the pipeline runs on: a new job, and the recreated archive keeps what reaches the bus
    job = api.submit(1)
    api.wait_for_statuses(job, dict.fromkeys(BOTH, "Success"), timeout=60)
    _put_event(sandbox)
    wait_for(lambda: _archived(sandbox), lambda n: n == 1, timeout=10, describe="the new event in the archive")
    wait_for(lambda: logs.filter_log_events(logGroupName=consumer_logs)["events"], bool, timeout=10,
             describe="the consumer's new log events in its recreated stream")
