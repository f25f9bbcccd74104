"""``jobkit reset --target localstack`` against LocalStack's own engine (``--target localstack``): the data
cleared through the AWS APIs, every resource kept, and the pipeline runs on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.targets.localstack.reset import reset


def _archived(deployment: Deployment) -> int:
    archive = deployment.client("events").describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])
    return int(archive.get("EventCount", 0))


def _put_event(deployment: Deployment) -> None:
    deployment.client("events").put_events(Entries=[{
        "Source": "jobkit.tests", "DetailType": "reset", "Detail": json.dumps({"n": 1}),
        "EventBusName": deployment["FailedJobsEventBusName"]}])


def _resources(deployment: Deployment) -> dict[str, Any]:
    lambdas, events = deployment.client("lambda"), deployment.client("events")
    archive = events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])
    return {
        "functions": sorted(f["FunctionName"] for f in lambdas.list_functions()["Functions"]),
        "mappings": sorted(m["UUID"] for m in lambdas.list_event_source_mappings(
            EventSourceArn=deployment["JobsTableStreamArn"])["EventSourceMappings"]),
        "rules": sorted(r["Name"] for r in events.list_rules(EventBusName=deployment["FailedJobsEventBusName"])[
            "Rules"]),
        "archive": {k: archive.get(k) for k in ("ArchiveArn", "EventSourceArn", "EventPattern", "RetentionDays")},
    }


@pytest.mark.timeout(600)
def test_reset_through_the_apis_on_localstack(jobkit_deployment: Deployment) -> None:
    deployment = jobkit_deployment
    if deployment.target != "localstack":
        pytest.skip("runs with --target localstack")
    api = JobsApi.for_deployment(deployment)
    ssm, sqs = deployment.client("ssm"), deployment.client("sqs")
    both = dict.fromkeys(deployment.consumer_ids(), "Success")
    api.wait_for_statuses(api.submit(1), both, timeout=180)
    plan = f"{deployment['FaultPlanPrefix']}reset-{uuid.uuid4().hex[:6]}"
    ssm.put_parameter(Name=plan, Type="String", Value="{}")
    kept = f"/jobkit/kept-{uuid.uuid4().hex[:6]}"
    ssm.put_parameter(Name=kept, Type="String", Value="stays")
    url = sqs.create_queue(QueueName=f"reset-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left over")
    before = _archived(deployment)
    _put_event(deployment)
    wait_for(lambda: _archived(deployment), lambda n: n > before, timeout=30, describe="the event in the archive")
    resources = _resources(deployment)

    summary = reset(deployment)

    cleared = summary["cleared"]
    assert cleared["dynamodb"]["items"] >= 1 and cleared["ssm"]["faultPlans"] >= 1
    assert cleared["sqs"]["messages"] >= 1 and cleared["events"]["archivesRecreated"] >= 1
    assert deployment.client("dynamodb").scan(TableName=deployment["JobsTableName"])["Items"] == []
    assert not ssm.get_parameters(Names=[plan])["Parameters"]
    assert ssm.get_parameter(Name=kept)["Parameter"]["Value"] == "stays"
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    assert _archived(deployment) == 0
    assert _resources(deployment) == resources
    job = api.submit(1)  # the pipeline runs on, and the archive recreated keeps what reaches the bus
    api.wait_for_statuses(job, both, timeout=180)
    _put_event(deployment)
    wait_for(lambda: _archived(deployment), lambda n: n == 1, timeout=30, describe="the new event in the archive")
    ssm.delete_parameter(Name=kept)
    sqs.delete_queue(QueueUrl=url)
