"""The error handler's flow: from an event source mapping's on-failure record to a Failure status.

The on-failure record only points at the failed batch (``DDBStreamBatchInfo``), so the job is read back
from the stream at that sequence number; when that is impossible (record trimmed after 24 h, stream of
another environment) an exported event may carry the job itself (``detail.jobkit.job``).
Shape of the record: "Using AWS Lambda with Amazon DynamoDB" / "Retaining discarded records for a
DynamoDB event source in Lambda" (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from handlers.domain.faults import (
    FaultClock,
    FaultPlanSource,
    apply_faults,
    arm,
    load_plan,
)
from handlers.domain.job import Job, parse_job
from handlers.domain.locking import StatusWriter, VersionBumper
from handlers.domain.status import failure

logger = logging.getLogger(__name__)

WHERE = "error_handler"


class InvalidFailureRecord(ValueError):
    """The input is not an on-failure record of a DynamoDB event source mapping."""


class StreamRecordUnavailable(LookupError):
    """The failed record can no longer be read from the stream (trimmed, other account, gone)."""


class StreamReader(Protocol):
    """Reads one record back from a DynamoDB stream."""

    def read_new_image(self, stream_arn: str, shard_id: str, sequence_number: str) -> Mapping[str, Any]:
        """The deserialized NewImage of the record at ``sequence_number``; StreamRecordUnavailable if gone."""
        ...


@dataclass(frozen=True)
class FailedBatch:
    """The parts of an on-failure record the error handler uses."""

    stream_arn: str
    shard_id: str
    start_sequence_number: str
    condition: str | None = None
    function_error: str | None = None
    approximate_invoke_count: int | None = None
    batch_size: int | None = None


def _require_str(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidFailureRecord(f"on-failure record has no {where}.{key}")
    return value


def parse_on_failure_record(record: Mapping[str, Any]) -> FailedBatch:
    """Parse the on-failure record (requestContext, responseContext, DDBStreamBatchInfo)."""
    info = record.get("DDBStreamBatchInfo")
    if not isinstance(info, Mapping):
        raise InvalidFailureRecord(
            "on-failure record has no DDBStreamBatchInfo: is it from the DynamoDB event source mapping? "
            f"keys: {sorted(record)}"
        )
    request = record.get("requestContext") or {}
    response = record.get("responseContext") or {}
    count = request.get("approximateInvokeCount") if isinstance(request, Mapping) else None
    size = info.get("batchSize")
    return FailedBatch(
        stream_arn=_require_str(info, "streamArn", "DDBStreamBatchInfo"),
        shard_id=_require_str(info, "shardId", "DDBStreamBatchInfo"),
        start_sequence_number=_require_str(info, "startSequenceNumber", "DDBStreamBatchInfo"),
        condition=request.get("condition") if isinstance(request, Mapping) else None,
        function_error=response.get("functionError") if isinstance(response, Mapping) else None,
        approximate_invoke_count=count if isinstance(count, int) else None,
        batch_size=size if isinstance(size, int) else None,
    )


def error_text(failed: FailedBatch) -> str | None:
    """Why the job failed, from the on-failure record: ``<condition> (function error: <functionError>)``."""
    parts: list[str] = []
    if failed.condition:
        parts.append(failed.condition)
    details: list[str] = []
    if failed.function_error:
        details.append(f"function error: {failed.function_error}")
    if failed.approximate_invoke_count is not None:
        details.append(f"invocations: {failed.approximate_invoke_count}")
    if not parts and not failed.function_error:
        return None
    if details:
        parts.append(f"({', '.join(details)})")
    return " ".join(parts)


def parse_fallback_job(raw: Any) -> Job:
    """The ``detail.jobkit.job`` of an exported event: ``{"id", "seconds"}`` (``fault`` optional)."""
    if not isinstance(raw, Mapping):
        raise InvalidFailureRecord(f"detail.jobkit.job must be an object, got {raw!r}")
    return parse_job({"id": raw.get("id"), "seconds": raw.get("seconds"), "fault": raw.get("fault")})


def resolve_job(failed: FailedBatch, reader: StreamReader, fallback: Job | None) -> Job:
    """The failed job, read back from the stream, else the exported fallback; raise if neither."""
    try:
        image = reader.read_new_image(failed.stream_arn, failed.shard_id, failed.start_sequence_number)
    except StreamRecordUnavailable as exc:
        if fallback is None:
            raise
        logger.warning(
            "failed record not readable from the stream, using detail.jobkit.job",
            extra={"reason": str(exc), "job_id": fallback.id},
        )
        return fallback
    return parse_job(image)


@dataclass(frozen=True)
class FailureOutcome:
    """What the error handler wrote (for logs and tests)."""

    job_id: str
    status: Mapping[str, Any]
    version: int


def handle_failure(
    failed: FailedBatch,
    *,
    reader: StreamReader,
    writer: StatusWriter,
    plans: FaultPlanSource | None,
    clock: FaultClock,
    bumper: VersionBumper | None,
    fallback: Job | None = None,
) -> FailureOutcome:
    """Write ``Failure`` (job's seconds, error) under ``writer.consumer``; raise on any failure."""
    if failed.batch_size is not None and failed.batch_size > 1:
        logger.warning(
            "on-failure batch holds several records; only the first is marked Failure",
            extra={"batch_size": failed.batch_size},
        )
    job = resolve_job(failed, reader, fallback)
    plan = load_plan(plans, job.fault)
    faults, writer = arm(plan, WHERE, writer, bumper, job.id)
    apply_faults(faults, clock, job.id, plan.name)
    status = failure(job.seconds, error_text(failed))
    version = writer.write(job.id, status)
    return FailureOutcome(job_id=job.id, status=status, version=version)
