"""Replaying archived failures, and re-driving exported ones into any target.

``StartReplay`` re-sends the archive's events to the bus with a ``replay-name``; the stack's re-drive rules
send them back to the error handler that failed, which then records the job's ``Failure``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import WaitTimeout, wait_for
from jobkit.errors import JobkitError
from jobkit.failed_events import FailedEvent, job_of, list_failed, read_jsonl

RESTORED = "Restored"
#: how long a replay, and then each replayed job's outcome, is waited for
REPLAY_TIMEOUT = 120.0
#: CDK names the error handlers ``<stack>-ErrorHandler<N>Function<hash>-<suffix>``; the suffix differs per deployment
_HANDLER = re.compile(r"ErrorHandler(\d+)Function")


@dataclass
class ReplayResult:
    name: str
    state: str
    events: list[FailedEvent]
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)


def describe_archive(deployment: Deployment, name: str | None = None) -> dict[str, Any]:
    """DescribeArchive of ``name`` (default: the stack's archive); JobkitError if the target has none such."""
    events = deployment.client("events")
    archive_name = name or deployment["FailedJobsEventArchiveName"]
    try:
        return dict(events.describe_archive(ArchiveName=archive_name))
    except events.exceptions.ResourceNotFoundException as exc:
        raise JobkitError(f"no archive named {archive_name!r} on target {deployment.target}") from exc


def replay_name() -> str:
    """A new replay's name: when it started and a random part (ReplayName takes letters, digits, ".", "-" and
    "_", 64 at most: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html)."""
    return f"jobkit-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid4().hex[:6]}"


def archive_event_count(deployment: Deployment, name: str | None = None) -> int:
    return int(describe_archive(deployment, name).get("EventCount", 0))


def replay_archive(deployment: Deployment, *, since: datetime | None = None, until: datetime | None = None,
                   archive: str | None = None, say: Callable[[str], None] = lambda _: None,
                   timeout: float = REPLAY_TIMEOUT, name: str | None = None) -> ReplayResult:
    """Starts a replay of ``[since, until]`` (named ``name``, else ``replay_name()``), waits for it to complete
    and for each job's outcome."""
    events = deployment.client("events")
    described = describe_archive(deployment, archive)
    created = described.get("CreationTime")
    start = since or (created if isinstance(created, datetime) else datetime.now(UTC) - timedelta(days=1))
    end = until or datetime.now(UTC)
    if end <= start:
        raise JobkitError(f"--until ({end.isoformat()}) must be after --since ({start.isoformat()})")
    bus_arn = events.describe_event_bus(Name=deployment["FailedJobsEventBusName"])["Arn"]
    name = name or replay_name()
    say(f"replay {name}: {described['ArchiveName']} from {start.isoformat()} to {end.isoformat()}")
    events.start_replay(ReplayName=name, EventSourceArn=described["ArchiveArn"], EventStartTime=start,
                        EventEndTime=end, Destination={"Arn": bus_arn})
    state = wait_for(lambda: events.describe_replay(ReplayName=name)["State"],
                     lambda s: s in {"COMPLETED", "FAILED", "CANCELLED"}, timeout=timeout,
                     describe=f"replay {name} to complete")
    if state != "COMPLETED":
        reason = events.describe_replay(ReplayName=name).get("StateReason", "")
        raise JobkitError(f"replay {name} ended {state}: {reason}")
    replayed = list_failed(deployment, start, end)
    result = ReplayResult(name, state, replayed)
    result.outcomes = settle_outcomes(deployment, replayed, timeout=timeout)
    return result


def settle_outcomes(deployment: Deployment, replayed: list[FailedEvent], timeout: float) -> dict[str, dict[str, Any]]:
    """Each replayed job's statuses once its error handlers had the chance to record the failure."""
    jobs = {job["id"] for event in replayed if (job := job_of(deployment, event))}
    if not jobs:
        return {}
    api = JobsApi.for_deployment(deployment)
    outcomes: dict[str, dict[str, Any]] = {}
    for job_id in sorted(jobs):
        try:
            outcomes[job_id] = wait_for(
                lambda j=job_id: api.statuses(j),  # type: ignore[misc]
                lambda seen: any(v.get("status") == "Failure" for v in seen.values()),
                timeout=timeout, describe=f"job {job_id} to record its Failure")
        except WaitTimeout as exc:
            outcomes[job_id] = exc.last if isinstance(exc.last, dict) else {}
    return outcomes


def restore_jobs(deployment: Deployment, events: list[FailedEvent]) -> list[str]:
    """Puts back the items of exported jobs this target does not have.

    Consumers with no status get ``Restored``: the processors skip an inserted job that already carries
    their status (it was not submitted through the API), and the replayed failure then records ``Failure``.
    """
    ddb = deployment.client("dynamodb")
    table = deployment["JobsTableName"]
    restored: list[str] = []
    for event in events:
        item = event.event.get("detail", {}).get("jobkit", {}).get("item")
        if not isinstance(item, dict) or "id" not in item:
            continue
        job_id = item["id"]["S"]
        if ddb.get_item(TableName=table, Key={"id": {"S": job_id}}, ConsistentRead=True).get("Item"):
            continue
        statuses = dict(item.get("job_status", {}).get("M", {}))
        for consumer in deployment.consumer_ids():
            statuses.setdefault(consumer, {"M": {"status": {"S": RESTORED}}})
        ddb.put_item(TableName=table, Item={**item, "job_status": {"M": statuses}})
        restored.append(job_id)
    return restored


def retarget(deployment: Deployment, event: dict[str, Any], arns: dict[str, str]) -> dict[str, Any]:
    """The event as this deployment's error handler for the same consumer would have sent it.

    An export names the error handler of the environment that captured it (another account, or a sandbox
    since restarted, whose function names end differently); the re-drive rules match this deployment's own.
    """
    document = json.loads(json.dumps(event))
    context = document.get("detail", {}).get("requestContext", {})
    original = str(context.get("functionArn", ""))
    match = _HANDLER.search(original)
    if not match or ":function:" not in original:
        return document
    name = deployment.outputs.get(f"ErrorHandler{match.group(1)}FunctionName")
    if not name:
        raise JobkitError(f"this deployment has no error handler {match.group(1)} for an exported event")
    if name not in arns:
        arns[name] = deployment.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    base = original.split(":function:")[0] + ":function:" + original.split(":function:")[1].split(":")[0]
    qualifier = original[len(base):]
    context["functionArn"] = arns[name] + qualifier
    document["resources"] = [arns[name] + r[len(base):] if r.startswith(base) else r
                             for r in document.get("resources", [])]
    return document


def read_export(path: Path) -> list[FailedEvent]:
    """The failures of an export, checked before anything is sent: at least one, each in a failed event's shape."""
    events = read_jsonl(path)
    if not events:
        raise JobkitError(f"export file {path} holds no events")
    return events


def replay_file(deployment: Deployment, path: Path, *, say: Callable[[str], None] = lambda _: None,
                timeout: float = 120) -> ReplayResult:
    """Re-drives the failures of an export into this target (``replay_events``)."""
    return replay_events(deployment, read_export(path), say=say, timeout=timeout)


def replay_events(deployment: Deployment, exported: list[FailedEvent], *,
                  say: Callable[[str], None] = lambda _: None, timeout: float = 120) -> ReplayResult:
    """Re-drives exported failures into this target: restore their jobs, put them on the bus, replay them."""
    arns: dict[str, str] = {}
    events = [FailedEvent(retarget(deployment, e.event, arns)) for e in exported]
    if not events:
        raise JobkitError("no events to replay")
    restored = restore_jobs(deployment, events)
    if restored:
        say(f"restored {len(restored)} job(s) this target did not have: {', '.join(restored)}")
    client = deployment.client("events")
    bus = deployment["FailedJobsEventBusName"]
    before = archive_event_count(deployment)
    start = datetime.now(UTC) - timedelta(seconds=1)
    for offset in range(0, len(events), 10):
        entries = [{
            "Source": e.event.get("source", "lambda"),
            "DetailType": e.event["detail-type"],
            "Detail": json.dumps(e.event["detail"]),
            "Resources": list(e.event.get("resources", [])),
            "EventBusName": bus,
        } for e in events[offset:offset + 10]]
        answer = client.put_events(Entries=entries)
        if answer.get("FailedEntryCount"):
            raise JobkitError(f"the bus refused {answer['FailedEntryCount']} event(s): {answer['Entries']}")
    wait_for(lambda: archive_event_count(deployment), lambda n: n >= before + len(events), timeout=timeout,
             describe=f"the archive to keep the {len(events)} re-driven event(s)")
    say(f"put {len(events)} event(s) on {bus}; replaying them")
    result = replay_archive(deployment, since=start, until=datetime.now(UTC) + timedelta(seconds=1),
                            say=say, timeout=timeout)
    result.events = events
    result.outcomes = settle_outcomes(deployment, events, timeout=timeout)
    return result
