"""Failed events that reached FailedJobsEventBus: list them, export them, and replay them anywhere.

The stack's capture rule keeps every failure (not replays) in the log group named by the
``FailedJobsEventLogGroupName`` output; each log event is the EventBridge event as delivered (the Lambda
destination envelope, see "Capturing records of Lambda asynchronous invocations",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).

An exported line is that event with ``detail.jobkit`` added: the job it concerns (``job``: id and seconds)
and the job's item as it was (``item``, DynamoDB JSON), resolved from the stream while the environment that
captured it still has the record. That is what lets a sandbox that never saw the job replay its failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError


@dataclass(frozen=True)
class FailedEvent:
    event: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event.get("id", ""))

    @property
    def time(self) -> str:
        return str(self.event.get("time", ""))

    @property
    def function_arn(self) -> str:
        return str(self.event.get("detail", {}).get("requestContext", {}).get("functionArn", ""))

    @property
    def error(self) -> str:
        payload = self.event.get("detail", {}).get("responsePayload") or {}
        if isinstance(payload, dict):
            return f"{payload.get('errorType', '')}: {payload.get('errorMessage', '')}".strip(": ")
        return str(payload)

    def batch_info(self) -> dict[str, Any] | None:
        """The stream mapping's on-failure record inside the SNS event the error handler was given."""
        request = self.event.get("detail", {}).get("requestPayload") or {}
        try:
            message = json.loads(request["Records"][0]["Sns"]["Message"])
            return dict(message["DDBStreamBatchInfo"])
        except (KeyError, IndexError, TypeError, json.JSONDecodeError):
            return None

    @property
    def job(self) -> dict[str, Any] | None:
        job = self.event.get("detail", {}).get("jobkit", {}).get("job")
        return dict(job) if isinstance(job, dict) else None


def list_failed(deployment: Deployment, since: datetime | None = None,
                until: datetime | None = None) -> list[FailedEvent]:
    """The captured failures, oldest first."""
    logs = deployment.client("logs")
    args: dict[str, Any] = {"logGroupName": deployment["FailedJobsEventLogGroupName"]}
    if since:
        args["startTime"] = int(since.timestamp() * 1000)
    if until:
        args["endTime"] = int(until.timestamp() * 1000)
    found: list[FailedEvent] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**args):
            for entry in page.get("events", []):
                try:
                    found.append(FailedEvent(json.loads(entry["message"])))
                except json.JSONDecodeError:
                    continue
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    # a rule's delivery to the log group is at least once: keep one entry per event id
    unique = {e.id: e for e in found}
    return sorted(unique.values(), key=lambda e: e.time)


def read_stream_record(deployment: Deployment, batch_info: dict[str, Any]) -> dict[str, Any] | None:
    """The failed record's NewImage, read back at its sequence number (None if the stream lost it)."""
    streams = deployment.client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch_info["streamArn"], ShardId=batch_info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=batch_info["startSequenceNumber"],
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1)["Records"]
    except (ClientError, KeyError):
        return None
    return dict(records[0]["dynamodb"].get("NewImage", {})) if records else None


def job_of(deployment: Deployment, event: FailedEvent) -> dict[str, Any] | None:
    """Which job a failed event concerns: from its enrichment, else from the stream."""
    if event.job:
        return event.job
    info = event.batch_info()
    image = read_stream_record(deployment, info) if info else None
    if not image or "id" not in image:
        return None
    return {"id": image["id"]["S"], "seconds": int(image.get("seconds", {}).get("N", "0"))}


def enrich(deployment: Deployment, event: FailedEvent) -> dict[str, Any]:
    """The event with ``detail.jobkit`` (job and item) for export."""
    document = json.loads(json.dumps(event.event))
    job = job_of(deployment, event)
    item = None
    if job:
        answer = deployment.client("dynamodb").get_item(
            TableName=deployment["JobsTableName"], Key={"id": {"S": job["id"]}}, ConsistentRead=True)
        item = answer.get("Item")
    document.setdefault("detail", {})["jobkit"] = {"job": job, "item": item}
    return document


def export_jsonl(deployment: Deployment, path: Path, since: datetime | None = None,
                 until: datetime | None = None) -> int:
    events = list_failed(deployment, since, until)
    with path.open("w") as out:
        for event in events:
            out.write(json.dumps(enrich(deployment, event), separators=(",", ":")) + "\n")
    return len(events)


def read_jsonl(path: Path) -> list[FailedEvent]:
    """Reads an export; a malformed file is one clear error naming the line."""
    if not path.exists():
        raise JobkitError(f"no such file: {path}")
    events: list[FailedEvent] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JobkitError(f"{path}:{number} is not JSON ({exc.msg})") from exc
        if not isinstance(document, dict) or "detail" not in document or "detail-type" not in document:
            raise JobkitError(f"{path}:{number} is not an EventBridge event (no detail/detail-type)")
        events.append(FailedEvent(document))
    return events
