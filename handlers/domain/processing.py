"""The processor's flow for one job: Running, (faults), validate, run, Success.

Running is written before anything can fail so a client polling the job sees it was picked up; any
exception after that propagates, so the event source mapping retries and finally sends the batch to its
on-failure destination (the SNS topic feeding the error handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.domain.faults import FaultClock, FaultPlanSource, apply_faults, arm, load_plan
from handlers.domain.job import Job
from handlers.domain.locking import StatusWriter, VersionBumper, WriteRefused
from handlers.domain.run import run_job
from handlers.domain.status import running, success

WHERE = "processor"


def skip_reason(job: Job, consumer: str) -> str | None:
    """Why this consumer must not process the job, or None to process it.

    Jobs submitted through the API carry no status yet; a NewImage that already holds this consumer's
    status was restored from a file by a re-drive, and running it again would overwrite its outcome.
    """
    existing = job.status_of(consumer)
    if existing is not None:
        return (
            f"job {job.id!r} already carries a {existing.get('status')!r} status for {consumer!r}: "
            "it was restored (re-drive from file), not submitted through the API"
        )
    return None


TERMINAL = frozenset({"Success", "Failure"})


def already_settled(current: Mapping[str, Any] | None, job: Job, consumer: str) -> str | None:
    """Why a delivery is a duplicate of one already settled for this consumer, or None.

    ``current`` is the item as read now (consistently). Stream records are delivered at least once ("Lambda
    event source mappings", at-least-once processing): a record delivered again after its job ended for this
    consumer must not run the job a second time, nor replace the outcome. An earlier attempt's ``Running`` is
    not settled: a retry goes on.
    """
    statuses = (current or {}).get("job_status") or {}
    status = statuses.get(consumer) if isinstance(statuses, dict) else None
    if isinstance(status, dict) and status.get("status") in TERMINAL:
        return f"job {job.id!r} already ended {status['status']!r} for {consumer!r}: a duplicate delivery"
    return None


@dataclass(frozen=True)
class ProcessOutcome:
    """What a processed job ended with (for logs and tests)."""

    job_id: str
    results: str
    version: int


@dataclass(frozen=True)
class Skipped:
    """A delivery not run: a duplicate of one that has already settled this consumer (``reason`` says so)."""

    job_id: str
    reason: str


def process_job(
    job: Job,
    writer: StatusWriter,
    *,
    timeout: int,
    plans: FaultPlanSource | None,
    clock: FaultClock,
    bumper: VersionBumper | None,
    current: Mapping[str, Any] | None = None,
) -> ProcessOutcome | Skipped:
    """Run one job for ``writer.consumer``; every failure is raised, never swallowed.

    ``current`` is the item as the caller knows it (the stream record's NewImage): the Running write starts
    from it instead of a read. The write is conditional, so when the item has changed since (the other
    consumer wrote first, or this record is a duplicate delivery) it conflicts and goes on from the item as
    it is now; a duplicate of a job already settled for this consumer is recognised there (``already_settled``)
    and returned as Skipped, before anything ran or was written.
    """
    plan = load_plan(plans, job.fault)
    faults, writer = arm(plan, WHERE, writer, bumper, job.id)
    try:
        writer.write(job.id, running(), current=current,
                     guard=lambda item: already_settled(item, job, writer.consumer))
    except WriteRefused as refused:
        return Skipped(job.id, refused.reason)
    apply_faults(faults, clock, job.id, plan.name)
    results = run_job(job, timeout, clock.sleep)
    version = writer.write(job.id, success(job.seconds))
    return ProcessOutcome(job_id=job.id, results=results, version=version)
