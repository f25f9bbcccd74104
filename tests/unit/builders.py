"""Event builders: the documented sample shapes of events/ filled with real (moto) values."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a sample event of events/ (see events/README.md for the doc pages)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def _jsonable(value: Any) -> Any:
    """GetRecords answers with datetimes where the Lambda event carries epoch seconds."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def stream_event(stream_records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream event made of records read from the stream (GetRecords has the same shape)."""
    template = load_event("dynamodb_stream_event.json")["Records"][0]
    records = []
    for stream_record in stream_records:
        record = copy.deepcopy(template)
        record.update(_jsonable({k: v for k, v in stream_record.items() if k != "dynamodb"}))
        record["dynamodb"] = _jsonable(stream_record["dynamodb"])
        record["eventSourceARN"] = stream_arn
        records.append(record)
    return {"Records": records}


def sample_stream_event(new_image: dict[str, Any], event_name: str = "INSERT") -> dict[str, Any]:
    """The sample stream event with another NewImage (DynamoDB JSON) and event name."""
    event = load_event("dynamodb_stream_event.json")
    record = event["Records"][0]
    record["eventName"] = event_name
    record["dynamodb"]["NewImage"] = new_image
    record["dynamodb"]["Keys"] = {"id": new_image["id"]}
    return event


def on_failure_record(
    stream_arn: str,
    shard_id: str,
    sequence_number: str,
    *,
    condition: str | None = "RetryAttemptsExhausted",
    function_error: str | None = "Unhandled",
) -> dict[str, Any]:
    """The event source mapping's on-failure record pointing at one stream record."""
    record = load_event("dynamodb_on_failure_record.json")
    info = record["DDBStreamBatchInfo"]
    info.update(
        streamArn=stream_arn,
        shardId=shard_id,
        startSequenceNumber=sequence_number,
        endSequenceNumber=sequence_number,
    )
    if condition is None:
        del record["requestContext"]["condition"]
    else:
        record["requestContext"]["condition"] = condition
    if function_error is None:
        del record["responseContext"]["functionError"]
    else:
        record["responseContext"]["functionError"] = function_error
    return record


def sns_event(message: dict[str, Any]) -> dict[str, Any]:
    """The SNS event delivering ``message`` (the on-failure record) as JSON text."""
    event = load_event("sns_event.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def eventbridge_failure(sns: dict[str, Any], job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The replayed EventBridge event of the error handler's failed invocation of ``sns``."""
    event = load_event("eventbridge_invocation_failure.json")
    event["detail"]["requestPayload"] = sns
    if job is not None:
        event["detail"]["jobkit"] = {"job": job}
    return event
