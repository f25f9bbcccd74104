"""``POST /_jobkit/reset`` on the session's engine: the sandbox's data cleared, every deployed resource kept.

The engine stays usable for the tests after these: a reset keeps every resource, and a new job runs end to end.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine

BOTH = ("consumer_1", "consumer_2")


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> JobsApi:
    return JobsApi.for_deployment(deployment)


def _reset(engine: EmbeddedEngine, body: bytes | None = None, method: str = "POST") -> requests.Response:
    return requests.request(method, f"{engine.url}/_jobkit/reset", data=body, timeout=30)


def _archived(engine: EmbeddedEngine, archive_arn: str) -> list[Any]:
    assert engine.events is not None  # the archive's events are not readable through AWS APIs
    return list(engine.events.archives[archive_arn]["events"])


def _stream_iterator(deployment: Deployment, kind: str) -> str:
    streams = deployment.client("dynamodbstreams")
    arn = deployment["JobsTableStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return str(streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind)["ShardIterator"])


def _stream_keys(deployment: Deployment, iterator: str) -> list[str]:
    records = deployment.client("dynamodbstreams").get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [r["dynamodb"]["Keys"]["id"]["S"] for r in records]


def _resources(deployment: Deployment) -> dict[str, Any]:
    """What the stack deployed, as the AWS APIs list it."""
    bus = deployment["FailedJobsEventBusName"]
    return {
        "functions": sorted(f["FunctionName"] for f in deployment.client("lambda").list_functions()["Functions"]),
        "mappings": sorted(m["UUID"] for m in deployment.client("lambda").list_event_source_mappings(
            EventSourceArn=deployment["JobsTableStreamArn"])["EventSourceMappings"]),
        "rules": sorted(r["Name"] for r in deployment.client("events").list_rules(EventBusName=bus)["Rules"]),
        "tables": deployment.client("dynamodb").list_tables()["TableNames"],
        "table": deployment.client("dynamodb").describe_table(TableName=deployment["JobsTableName"])["Table"][
            "LatestStreamArn"],
        "archive": deployment.client("events").describe_archive(
            ArchiveName=deployment["FailedJobsEventArchiveName"])["State"],
        "log groups": sorted(g["logGroupName"] for g in deployment.client("logs").describe_log_groups()["logGroups"]),
        "topics": sorted(t["TopicArn"] for t in deployment.client("sns").list_topics()["Topics"]),
    }


def test_reset_clears_the_data_keeps_the_resources_and_a_new_job_runs(engine: EmbeddedEngine, api: JobsApi,
                                                                     deployment: Deployment) -> None:
    ssm, events, sqs, logs = (deployment.client(s) for s in ("ssm", "events", "sqs", "logs"))
    table = deployment["JobsTableName"]
    archive_arn = events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])["ArchiveArn"]
    before_any = _stream_iterator(deployment, "TRIM_HORIZON")
    # data of every kind: jobs (one succeeded, one failed through the error handlers into the archive), a fault
    # plan, a parameter of the user's own, a queue message, a clock advance
    done = api.submit(1)
    api.wait_for_statuses(done, dict.fromkeys(BOTH, "Success"), timeout=30)
    plan = f"reset-{uuid.uuid4().hex[:6]}"
    ssm.put_parameter(Name=deployment["FaultPlanPrefix"] + plan, Type="String", Overwrite=True,
                      Value=json.dumps({"faults": [{"where": "error_handler", "kind": "raise"}]}))
    kept_parameter = f"/jobkit/kept-{uuid.uuid4().hex[:6]}"
    ssm.put_parameter(Name=kept_parameter, Type="String", Value="stays")
    failed = api.submit(301, fault=plan)
    wait_for(lambda: _archived(engine, archive_arn), lambda found: len(found) >= 2, timeout=30,
             describe="the failed job's two failures in the archive")
    wait_for(lambda: logs.filter_log_events(logGroupName=deployment["FailedJobsEventLogGroupName"])["events"],
             bool, timeout=10, describe="the failures captured in the log group")
    queue_url = sqs.create_queue(QueueName=f"reset-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="left over")
    requests.post(f"{engine.url}/_jobkit/clock", json={"advance": 3600}, timeout=10).raise_for_status()
    # a fault no call of this test meets, and a latency of 1 ms: a reset leaves the sandbox healthy again
    requests.post(f"{engine.url}/_localstack/chaos/faults", json=[{"service": "kinesis"}],
                  timeout=10).raise_for_status()
    requests.post(f"{engine.url}/_localstack/chaos/effects", json={"latency": 1}, timeout=10).raise_for_status()
    resources = _resources(deployment)
    at_old_end = _stream_iterator(deployment, "LATEST")
    assert engine.lambdas is not None
    assert wait_for(engine.idle, bool, timeout=30, describe="the engine to settle")

    answer = _reset(engine)

    assert answer.status_code == 200, answer.text
    summary = answer.json()
    cleared = summary["cleared"]
    assert cleared["dynamodb"]["items"] >= 2 and cleared["dynamodb"]["streamRecords"] >= 2
    assert cleared["events"]["archivedEvents"] >= 2
    assert cleared["sqs"]["messages"] >= 1
    assert cleared["ssm"]["faultPlans"] >= 1
    assert cleared["logs"]["logEvents"] >= 2
    assert cleared["sns"]["publishedMessages"] >= 2  # the on-failure records, moto's record of them
    assert cleared["clock"]["offsetSeconds"] >= 3600
    assert cleared["chaos"] == {"faults": 1, "latencyMs": 1}
    assert set(cleared["lambda"]) == {"streamRecordsDropped", "asyncInvocationsRunning", "asyncEventsWaiting"}
    assert isinstance(summary["milliseconds"], float)
    # the data is gone
    assert deployment.client("dynamodb").scan(TableName=table)["Items"] == []
    assert _stream_keys(deployment, before_any) == [] and _stream_keys(deployment, at_old_end) == []
    assert _stream_keys(deployment, _stream_iterator(deployment, "TRIM_HORIZON")) == []
    assert _archived(engine, archive_arn) == []
    assert events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])["EventCount"] == 0
    assert events.list_replays()["Replays"] == []
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=deployment["FaultPlanPrefix"] + plan)
    assert ssm.get_parameter(Name=kept_parameter)["Parameter"]["Value"] == "stays"
    assert logs.filter_log_events(logGroupName=deployment["FailedJobsEventLogGroupName"])["events"] == []
    now = requests.get(f"{engine.url}/_jobkit/clock", timeout=10).json()["now"]
    assert abs(now - time.time()) < 60  # the jump is taken back (the session's clock runs at real time)
    assert requests.get(f"{engine.url}/_localstack/chaos/faults", timeout=10).json() == []
    assert requests.get(f"{engine.url}/_localstack/chaos/effects", timeout=10).json()["latency"] == 0
    assert api.get(failed).status == 404
    # every resource is still there, and the pipeline runs a new job end to end
    assert _resources(deployment) == resources
    job = api.submit(1)
    seen = api.wait_for_statuses(job, dict.fromkeys(BOTH, "Success"), timeout=30)
    assert seen["consumer_1"] == {"status": "Success", "results": "I slept for 1 seconds"}
    assert set(_stream_keys(deployment, at_old_end)) == {job}  # the old reader sees the new job only
    assert _archived(engine, archive_arn) == []
    ssm.delete_parameter(Name=kept_parameter)
    sqs.delete_queue(QueueUrl=queue_url)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_reset_answers_post_only(engine: EmbeddedEngine, method: str) -> None:
    answer = _reset(engine, method=method)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert "POST" in answer.json()["message"]


@pytest.mark.parametrize("body", [b"x", b'{"tables": ["JobsTable"]}', b"[]", b"null", b'"{}"', b"{" * 5000])
def test_reset_takes_no_parameters(engine: EmbeddedEngine, body: bytes) -> None:
    answer = _reset(engine, body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("the body must be empty or {}")


@pytest.mark.parametrize("body", [b"", b"{}", b" { } \n"])
def test_reset_with_an_empty_body_or_object(engine: EmbeddedEngine, body: bytes) -> None:
    answer = _reset(engine, body)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"cleared", "milliseconds"}


def test_reset_waits_for_a_deployment_under_way_then_answers_409(engine: EmbeddedEngine) -> None:
    with engine._deploying:  # as a deployment holds it
        answer = _reset(engine)
    assert answer.status_code == 409
    assert "under way" in answer.json()["message"]
