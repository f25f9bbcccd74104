"""A job's trace on LocalStack (or AWS), built from what its APIs show, since no engine there recorded its hops:

- the jobs table's stream: the job's records (the insert, each consumer's status write) with their sequence
  numbers and versions;
- the consumers' and error handlers' CloudWatch log lines that mention the job id (FilterLogEvents with the job
  id as the filter pattern), in each function's log group (its LoggingConfig group, else ``/aws/lambda/<name>``);
- the failed-events log group (``/jobkit/failed-events``): the captured failures of the job, found by its stream
  record's sequence number (the on-failure record names it, not the job id);
- the item as it is now: its version and each consumer's status.

Times are those the services stamp (stream records to the second, log events to the millisecond).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.function_logs import log_group, stack_functions

#: the most stream pages and log events read for one trace (a trace is a look, not an export)
MAX_PAGES = 50
MAX_EVENTS = 500
FAILED_EVENTS_GROUP = "/jobkit/failed-events"


def job_trace(deployment: Deployment, job_id: str) -> dict[str, Any]:
    try:
        item = _item(deployment, job_id)
        records = _stream_records(deployment, job_id)
        if item is None and not records:
            raise JobkitError(f"no trace of job {job_id}: the jobs table has no such item and its stream no record")
        hops = [_record_hop(r) for r in records]
        for n, function in enumerate(_functions(deployment)):
            hops += _log_hops(deployment, function, job_id, "error handler log" if "ErrorHandler" in function[0]
                              else "consumer log", n)
        sequences = [r["dynamodb"]["SequenceNumber"] for r in records if r.get("eventName") == "INSERT"]
        hops += _failed_event_hops(deployment, job_id, sequences)
    except (ClientError, BotoCoreError) as exc:
        raise JobkitError(f"cannot read the trace of job {job_id} from {deployment.target}: {exc}") from exc
    hops.sort(key=lambda h: h["at"])
    if item is not None:
        hops.append(_item_hop(item))
    return {"jobId": job_id, "hops": hops}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _item(deployment: Deployment, job_id: str) -> dict[str, Any] | None:
    answer = deployment.client("dynamodb").get_item(TableName=deployment["JobsTableName"],
                                                    Key={"id": {"S": job_id}}, ConsistentRead=True)
    item = answer.get("Item")
    return item if isinstance(item, dict) else None


def _statuses(image: dict[str, Any]) -> str:
    statuses = image.get("job_status", {}).get("M", {})
    return ", ".join(f"{c} {s.get('M', {}).get('status', {}).get('S', '-')}" for c, s in sorted(statuses.items()))


def _item_hop(item: dict[str, Any]) -> dict[str, Any]:
    version = item.get("version", {}).get("N", "?")
    statuses = _statuses(item)
    return {"at": _iso(dt.datetime.now(dt.UTC).timestamp()), "service": "dynamodb", "hop": "item now",
            "detail": f"version {version}" + (f": {statuses}" if statuses else ""), "item": item}


def _stream_records(deployment: Deployment, job_id: str) -> list[dict[str, Any]]:
    """The job's records in the table's stream, in order (the stream keeps 24 hours)."""
    arn = deployment.outputs.get("JobsTableStreamArn")
    if not arn:
        return []
    streams = deployment.client("dynamodbstreams")
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", [])
    found: list[dict[str, Any]] = []
    pages = 0
    for shard in shards:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON").get("ShardIterator")
        while iterator and pages < MAX_PAGES:
            pages += 1
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = page.get("Records", [])
            found += [r for r in records if r.get("dynamodb", {}).get("Keys", {}).get("id", {}).get("S") == job_id]
            if not records:  # an open shard's iterator never ends: an empty page is its end for now
                break
            iterator = page.get("NextShardIterator")
    return found


def _record_hop(record: dict[str, Any]) -> dict[str, Any]:
    data = record["dynamodb"]
    created = data.get("ApproximateCreationDateTime")
    epoch = created.timestamp() if isinstance(created, dt.datetime) else float(created or 0)
    image = data.get("NewImage", {})
    version = image.get("version", {}).get("N", "?")
    statuses = _statuses(image)
    hop = "item written" if record.get("eventName") == "INSERT" else "item updated"
    return {"at": _iso(epoch), "service": "dynamodb", "hop": hop,
            "detail": f"{record.get('eventName')} {data.get('SequenceNumber')} version {version}"
                      + (f": {statuses}" if statuses else ""),
            "sequence_number": data.get("SequenceNumber"), "item": image}


def _functions(deployment: Deployment) -> list[tuple[str, str]]:
    """(function name, log group) of each consumer and error handler the outputs name, the group as ``jobkit logs``
    reads it (``function_logs.log_group``: the function's LoggingConfig group)."""
    found = []
    for function in stack_functions(deployment):
        if not function.short.startswith(("consumer", "error-handler")):
            continue
        try:
            found.append((function.name, log_group(deployment, function)))
        except ClientError:
            continue  # a function since deleted: nothing of it to read
    return found


def _filtered(deployment: Deployment, group: str, term: str) -> list[dict[str, Any]]:
    logs = deployment.client("logs")
    events: list[dict[str, Any]] = []
    token: str | None = None
    while len(events) < MAX_EVENTS:
        args: dict[str, Any] = {"logGroupName": group, "filterPattern": json.dumps(term)}
        if token:
            args["nextToken"] = token
        try:
            page = logs.filter_log_events(**args)
        except logs.exceptions.ResourceNotFoundException:
            return []  # a function never invoked has no group yet
        events += page.get("events", [])
        token = page.get("nextToken")
        if not token:
            break
    return [e for e in events if term in e.get("message", "")][:MAX_EVENTS]


def _log_hops(deployment: Deployment, function: tuple[str, str], job_id: str, hop: str,
              _: int) -> list[dict[str, Any]]:
    name, group = function
    return [{"at": _iso(e["timestamp"] / 1000), "service": "lambda", "hop": hop, "function": name,
             "detail": _summary(e.get("message", "")), "logs": e.get("message", "")}
            for e in _filtered(deployment, group, job_id)]


def _summary(message: str) -> str:
    """A log line's message: a structured (JSON) line's ``message`` and level, else its first line."""
    try:
        document = json.loads(message)
    except ValueError:
        return message.strip().splitlines()[0][:200] if message.strip() else ""
    if isinstance(document, dict) and "message" in document:
        return f"{document.get('level', '')} {document['message']}".strip()[:200]
    return message.strip()[:200]


def _failed_event_hops(deployment: Deployment, job_id: str, sequences: list[str]) -> list[dict[str, Any]]:
    group = deployment.outputs.get("FailedJobsEventLogGroupName") or FAILED_EVENTS_GROUP
    seen: dict[str, dict[str, Any]] = {}
    for term in [job_id, *sequences]:
        for event in _filtered(deployment, group, term):
            seen.setdefault(event.get("eventId", str(event.get("timestamp"))), event)
    hops = []
    for event in seen.values():
        try:
            document = json.loads(event.get("message", ""))
        except ValueError:
            document = {}
        detail = document.get("detail", {}) if isinstance(document, dict) else {}
        context = detail.get("requestContext", {}) if isinstance(detail, dict) else {}
        function = str(context.get("functionArn", "")).split(":function:")[-1].split(":")[0]
        hops.append({"at": _iso(event["timestamp"] / 1000), "service": "events", "hop": "failed event captured",
                     "detail": f"{group}: {document.get('detail-type', '') if isinstance(document, dict) else ''} "
                               f"{function} {context.get('condition', '')}".strip(),
                     **({"replay": document["replay-name"]} if isinstance(document, dict)
                        and "replay-name" in document else {})})
    return hops
