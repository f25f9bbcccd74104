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

from botocore.exceptions import ClientError, ParamValidationError

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.files import MiB, open_for_writing, parse_json, read_text_file

#: The most of an export jobkit reads. A line is one event (EventBridge takes at most 256 KB) and its job's item
#: (DynamoDB: at most 400 KB), so under 1 MiB; 256 MiB holds hundreds of the largest possible failures and many
#: thousands of real ones, and is still memory a laptop can spare: an export is read whole before replaying.
EXPORT_MAX_BYTES = 256 * MiB


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
    def function_name(self) -> str:
        """The function of ``function_arn`` (``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``)."""
        parts = self.function_arn.split(":")
        return parts[6] if len(parts) > 6 else self.function_arn

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
        except (KeyError, IndexError, TypeError, ValueError, RecursionError):  # not the record: no batch info
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
                    document = json.loads(entry["message"])
                except (ValueError, RecursionError):
                    continue
                # anyone allowed to put events on the bus can shape one to match the capture rule
                if shape_error(document) is None:
                    found.append(FailedEvent(document))
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
    except (ClientError, ParamValidationError, KeyError, TypeError):  # the record is gone, or the info is not one
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
    with open_for_writing(path, what="export file") as out:
        for event in events:
            out.write(json.dumps(enrich(deployment, event), separators=(",", ":")) + "\n")
    return len(events)


def _is_item(item: Any) -> bool:
    """A job's item in DynamoDB JSON as ``restore_jobs`` writes it back: a string ``id``, a map ``job_status``."""
    if not isinstance(item, dict):
        return False
    key, statuses = item.get("id"), item.get("job_status", {"M": {}})
    return (isinstance(key, dict) and isinstance(key.get("S"), str)
            and isinstance(statuses, dict) and isinstance(statuses.get("M"), dict))


def shape_error(document: Any) -> str | None:
    """What keeps ``document`` from being a failed event jobkit can list, export and replay; None if nothing.

    Only the fields jobkit reads are checked; the rest of ``detail`` goes back on the bus as it came.
    """
    if not isinstance(document, dict):
        return "not a JSON object"
    if "detail" not in document or "detail-type" not in document:
        return 'no "detail" or "detail-type"'
    for key in ("detail-type", "source", "id", "time"):
        if key in document and not isinstance(document[key], str):
            return f'"{key}" must be a string'
    resources = document.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        return '"resources" must be a list of strings'
    detail = document["detail"]
    if not isinstance(detail, dict):
        return '"detail" must be an object'
    context = detail.get("requestContext", {})
    if not isinstance(context, dict) or not isinstance(context.get("functionArn", ""), str):
        return '"detail.requestContext" must be an object with a string "functionArn"'
    enrichment = detail.get("jobkit", {})
    if not isinstance(enrichment, dict):
        return '"detail.jobkit" must be an object'
    job = enrichment.get("job")
    if job is not None and not (isinstance(job, dict) and isinstance(job.get("id"), str)):
        return '"detail.jobkit.job" must be null or an object with a string "id"'
    item = enrichment.get("item")
    if item is not None and not _is_item(item):
        return '"detail.jobkit.item" must be null or a DynamoDB item with a string "id"'
    return None


def read_jsonl(path: Path) -> list[FailedEvent]:
    """Reads an export; a file that is not one is one clear error naming the file and the line."""
    text = read_text_file(path, what="export file", max_bytes=EXPORT_MAX_BYTES)
    events: list[FailedEvent] = []
    # only "\n" ends a line: str.splitlines would also split at U+2028 and others, which JSON strings may hold
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        document = parse_json(line, where=f"{path}:{number}")
        problem = shape_error(document)
        if problem:
            raise JobkitError(f"{path}:{number} is not a failed event: {problem}")
        events.append(FailedEvent(document))
    return events
