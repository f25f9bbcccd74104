"""``jobkit reset --target localstack``: the sandbox's data cleared through the AWS APIs, every resource kept.

LocalStack has no reset that keeps a deployment (its state reset drops the resources with the data), so each
kind of data is cleared as a client would clear it, one call per batch of items, queue, archive or log stream:
slower than the embedded engine's ``POST /_jobkit/reset``, which clears its own store in one step.

- the jobs table: scanned for its keys and deleted 25 items a call (BatchWriteItem's limit);
- every queue: purged (LocalStack allows it again within 60 s unless ``SQS_DELAY_PURGE_RETRY`` is set);
- every archive holding events: deleted and created again with the same name, bus, pattern, description and
  retention (no API empties an archive); replays still running are cancelled (a replay cannot be deleted);
- every log stream holding events: deleted and created again with the same name (no API deletes log events;
  the group stays, and a function keeps writing to the stream it has);
- the fault plans: the parameters under the ``FaultPlanPrefix`` output, and only those.

What the APIs cannot reach stays: the table's stream keeps its records (the deletes add REMOVE records, which
the stack's mappings filter out; the mappings read on from where they are), LocalStack's Lambda finishes the
asynchronous invocations and retries it has queued, and LocalStack has no sandbox clock to set back.
"""

from __future__ import annotations

import time
from typing import Any

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError

#: BatchWriteItem's most requests per call; DeleteParameters' most names per call
WRITE_BATCH = 25
DELETE_PARAMETERS_BATCH = 10
#: how long a batch of deletes may keep coming back unprocessed (throttled) before the reset gives up
UNPROCESSED_DEADLINE = 30.0
_QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed")


def reset(deployment: Deployment) -> dict[str, Any]:
    """Clears the deployment's data (see the module docstring); returns what was cleared, by service, and the
    milliseconds it took, in the shape the embedded engine answers. The fault plans go first, so that no job
    submitted meanwhile meets a stale one."""
    began = time.perf_counter()
    cleared = {
        "ssm": delete_fault_plans(deployment),
        "events": empty_archives(deployment),
        "dynamodb": empty_jobs_table(deployment),
        "sqs": purge_queues(deployment),
        "logs": empty_log_streams(deployment),
    }
    return {"cleared": cleared, "milliseconds": round((time.perf_counter() - began) * 1000, 1)}


def delete_fault_plans(deployment: Deployment) -> dict[str, int]:
    prefix = deployment.outputs.get("FaultPlanPrefix", "")
    if not prefix:  # a stack synthesized without fault injection has none
        return {"faultPlans": 0}
    ssm = deployment.client("ssm")
    pages = ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}])
    names = [p["Name"] for page in pages for p in page["Parameters"] if p["Name"].startswith(prefix)]
    for start in range(0, len(names), DELETE_PARAMETERS_BATCH):
        ssm.delete_parameters(Names=names[start:start + DELETE_PARAMETERS_BATCH])
    return {"faultPlans": len(names)}


def empty_archives(deployment: Deployment) -> dict[str, int]:
    events = deployment.client("events")
    names = [a["ArchiveName"] for a in _all(events.list_archives, "Archives")]
    recreated = archived = 0
    for name in names:
        archive = events.describe_archive(ArchiveName=name)
        count = int(archive.get("EventCount", 1))  # recreated unless known to be empty
        if count == 0:
            continue
        events.delete_archive(ArchiveName=name)
        again: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": archive["EventSourceArn"]}
        for key in ("Description", "EventPattern", "RetentionDays", "KmsKeyIdentifier"):
            if archive.get(key) not in (None, ""):
                again[key] = archive[key]
        events.create_archive(**again)
        recreated, archived = recreated + 1, archived + count
    cancelled = 0
    for replay in _all(events.list_replays, "Replays"):
        if replay.get("State") in ("STARTING", "RUNNING"):
            events.cancel_replay(ReplayName=replay["ReplayName"])
            cancelled += 1
    return {"archives": len(names), "archivesRecreated": recreated, "archivedEvents": archived,
            "replaysCancelled": cancelled}


def empty_jobs_table(deployment: Deployment) -> dict[str, int]:
    dynamodb = deployment.client("dynamodb")
    table = deployment["JobsTableName"]
    keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
    names = {f"#k{n}": key for n, key in enumerate(keys)}  # key names may be reserved words
    deleted = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression=", ".join(names),
                                                         ExpressionAttributeNames=names):
        items = page["Items"]
        for start in range(0, len(items), WRITE_BATCH):
            _delete_batch(dynamodb, table, items[start:start + WRITE_BATCH])
        deleted += len(items)
    return {"items": deleted}


def _delete_batch(dynamodb: Any, table: str, keys: list[dict[str, Any]]) -> None:
    requests = [{"DeleteRequest": {"Key": key}} for key in keys]
    deadline = time.monotonic() + UNPROCESSED_DEADLINE
    backoff = 0.05
    while requests:
        requests = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {}).get(table, [])
        if requests:
            if time.monotonic() > deadline:
                raise JobkitError(f"{len(requests)} item(s) of {table} stayed unprocessed for "
                                  f"{UNPROCESSED_DEADLINE:.0f} s", "run `jobkit reset --target localstack` again")
            time.sleep(backoff)  # DynamoDB's advice for unprocessed items: back off, then retry them
            backoff = min(backoff * 2, 1.0)


def purge_queues(deployment: Deployment) -> dict[str, int]:
    sqs = deployment.client("sqs")
    urls = [url for page in sqs.get_paginator("list_queues").paginate() for url in page.get("QueueUrls", [])]
    messages = 0
    for url in urls:
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_QUEUE_COUNTS))["Attributes"]
        messages += sum(int(counts.get(name, 0)) for name in _QUEUE_COUNTS)
        sqs.purge_queue(QueueUrl=url)
    return {"queues": len(urls), "messages": messages}


def empty_log_streams(deployment: Deployment) -> dict[str, int]:
    logs = deployment.client("logs")
    groups = emptied = 0
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            groups += 1
            name = group["logGroupName"]
            for streams in logs.get_paginator("describe_log_streams").paginate(logGroupName=name):
                for stream in streams["logStreams"]:
                    if "lastEventTimestamp" not in stream and not stream.get("storedBytes"):
                        continue  # empty already
                    logs.delete_log_stream(logGroupName=name, logStreamName=stream["logStreamName"])
                    logs.create_log_stream(logGroupName=name, logStreamName=stream["logStreamName"])
                    emptied += 1
    return {"logGroups": groups, "logStreamsEmptied": emptied}


def _all(call: Any, key: str) -> list[dict[str, Any]]:
    """Every entry of an EventBridge List call (they page with NextToken and have no paginator)."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(**({"NextToken": token} if token else {}))
        found += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return found
