"""The synthesized stack in the engine, driven only through port-4566 APIs, as a user drives it."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for

BOTH = ("consumer_1", "consumer_2")


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> JobsApi:
    return JobsApi.for_deployment(deployment)


def test_signed_post_then_both_consumers_succeed(api: JobsApi) -> None:
    job_id = api.submit(1)
    seen = api.wait_for_statuses(job_id, dict.fromkeys(BOTH, "Success"), timeout=30)
    assert seen["consumer_1"] == {"status": "Success", "results": "I slept for 1 seconds"}


def test_too_long_job_ends_failure_through_the_error_handlers(api: JobsApi) -> None:
    job_id = api.submit(301)
    seen = api.wait_for_statuses(job_id, dict.fromkeys(BOTH, "Failure"), timeout=30)
    for consumer in BOTH:
        assert seen[consumer]["seconds"] == 301
        assert seen[consumer]["error"].startswith("RetryAttemptsExhausted")


def test_failed_error_handler_reaches_bus_archive_and_is_redriven_by_replay(api: JobsApi, deployment: Deployment,
                                                                          engine) -> None:
    ssm, events, logs = deployment.client("ssm"), deployment.client("events"), deployment.client("logs")
    plan = f"eh-raise-{uuid.uuid4().hex[:6]}"
    name = deployment["FaultPlanPrefix"] + plan
    ssm.put_parameter(Name=name, Type="String", Overwrite=True,
                      Value=json.dumps({"faults": [{"where": "error_handler", "kind": "raise"}]}))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    job_id = api.submit(301, fault=plan)
    archive_arn = events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])["ArchiveArn"]
    engine_events = _engine_events(engine)
    wait_for(lambda: [a.event for a in engine_events.archives[archive_arn]["events"]
                      if _job_in(a.event, job_id, deployment)],
             lambda found: len(found) >= 2, timeout=30, describe="both failures in the archive")
    archived = [a.event for a in engine_events.archives[archive_arn]["events"] if _job_in(a.event, job_id, deployment)]
    envelope = archived[0]
    assert envelope["source"] == "lambda" and envelope["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert envelope["resources"][0].endswith(":event-bus/FailedJobsEventBus")
    detail = envelope["detail"]
    assert detail["requestContext"]["condition"] == "RetriesExhausted"
    # (more may follow while the fault holds: the stack's Redrive rules also match live failures, see the report)
    assert detail["requestContext"]["approximateInvokeCount"] == 1
    assert detail["responseContext"]["functionError"] == "Unhandled"
    assert detail["requestPayload"]["Records"][0]["EventSource"] == "aws:sns"
    # the capture rule wrote them to the failed-events log group
    wait_for(lambda: logs.filter_log_events(logGroupName=deployment["FailedJobsEventLogGroupName"])["events"],
             lambda found: sum(job_id in e["message"] or _job_in(json.loads(e["message"]), job_id, deployment)
                               for e in found) >= 2,
             timeout=10, describe="the capture log group")
    assert api.statuses(job_id)["consumer_1"]["status"] != "Failure"
    # lift the fault, replay the window: the redrive rules send each failure back to its error handler
    ssm.delete_parameter(Name=name)
    replay = f"redrive-{uuid.uuid4().hex[:6]}"
    events.start_replay(ReplayName=replay, EventSourceArn=archive_arn, EventStartTime=before,
                        EventEndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
                        Destination={"Arn": events.describe_event_bus(
                            Name=deployment["FailedJobsEventBusName"])["Arn"]})
    seen = api.wait_for_statuses(job_id, dict.fromkeys(BOTH, "Failure"), timeout=30)
    assert seen["consumer_2"]["seconds"] == 301
    assert wait_for(lambda: events.describe_replay(ReplayName=replay)["State"], lambda s: s == "COMPLETED",
                    timeout=10, describe="the replay to complete") == "COMPLETED"


def test_lambda_invoke_and_logs_over_the_api(deployment: Deployment, engine) -> None:
    client = deployment.client("lambda")
    answer = client.invoke(FunctionName=deployment["ErrorHandler1FunctionName"], Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "InvalidFailureRecord"
    group = engine.lambdas.function(deployment["ErrorHandler1FunctionName"]).log_group  # its LoggingConfig group
    assert group.startswith("JobsStack-ErrorHandler1FunctionLogs")
    found = wait_for(lambda: deployment.client("logs").filter_log_events(logGroupName=group)["events"],
                     lambda events: any(e["message"].startswith("REPORT RequestId") for e in events),
                     timeout=10, describe="the REPORT line in CloudWatch Logs")
    assert found


def _engine_events(engine):  # the archive's content is not readable through AWS APIs
    assert engine.events is not None
    return engine.events


def _job_in(event: dict, job_id: str, deployment: Deployment) -> bool:
    """Whether an archived failure is about ``job_id`` (its stream record carries the key)."""
    try:
        message = json.loads(event["detail"]["requestPayload"]["Records"][0]["Sns"]["Message"])
        info = message["DDBStreamBatchInfo"]
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    streams = deployment.client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    except streams.exceptions.TrimmedDataAccessException:  # a record of before a reset: another job's
        return False
    records = streams.get_records(ShardIterator=iterator, Limit=1)["Records"]
    return bool(records) and records[0]["dynamodb"]["Keys"]["id"]["S"] == job_id


def test_stream_records_over_the_api_are_in_aws_shape(api: JobsApi, deployment: Deployment) -> None:
    job_id = api.submit(1)
    streams = deployment.client("dynamodbstreams")
    arn = deployment["JobsTableStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    mine = [r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == job_id and r["eventName"] == "INSERT"]
    assert mine and mine[0]["eventVersion"] == "1.1"
    assert abs(mine[0]["dynamodb"]["ApproximateCreationDateTime"].timestamp() - time.time()) < 60
