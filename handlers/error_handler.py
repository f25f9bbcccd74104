"""Lambda entry point ``handlers.error_handler.handler``: marks failed jobs ``Failure``.

Accepts both inputs of docs/contracts.md ("Error handler input"):
1. the SNS event ("Using Lambda with Amazon SNS", https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html)
   whose ``Records[].Sns.Message`` is the event source mapping's on-failure record ("Using AWS Lambda with
   Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html);
2. a replayed EventBridge event of the error handler's own on-failure destination ("Capturing records of
   Lambda asynchronous invocations",
   https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): ``detail`` is the
   invocation record and ``detail.requestPayload`` the SNS event of (1); exported events may add
   ``detail.jobkit.job``.
Any failure is raised so the asynchronous invocation's on-failure destination (EventBridge) receives it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SNSEvent

from handlers import runtime
from handlers.domain.error_handling import (
    InvalidFailureRecord,
    handle_failure,
    parse_fallback_job,
    parse_on_failure_record,
)
from handlers.domain.job import Job

logger = runtime.make_logger()

FAILURE_DETAIL_TYPE: Final = "Lambda Function Invocation Result - Failure"


@dataclass(frozen=True)
class FailureInput:
    """One on-failure record to handle, with the exported job to fall back on."""

    record: Mapping[str, Any]
    fallback: Job | None = None
    source: str = "sns"


def _records_from_sns(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Each SNS record's Message is the JSON of an on-failure record."""
    records: list[Mapping[str, Any]] = []
    for sns_record in SNSEvent(dict(event)).records:
        message = sns_record.sns.message
        try:
            record = json.loads(message)
        except (TypeError, json.JSONDecodeError) as exc:
            raise InvalidFailureRecord(f"SNS message is not the JSON of an on-failure record: {message!r}") from exc
        if not isinstance(record, Mapping):
            raise InvalidFailureRecord(f"SNS message is not a JSON object: {message!r}")
        records.append(record)
    if not records:
        raise InvalidFailureRecord("SNS event has no Records")
    return records


def _records_from_payload(payload: Any) -> list[Mapping[str, Any]]:
    """The request payload of the failed invocation: the SNS event (or, invoked directly, the record)."""
    if isinstance(payload, Mapping) and "DDBStreamBatchInfo" in payload:
        return [payload]
    if isinstance(payload, Mapping) and isinstance(payload.get("Records"), list):
        return _records_from_sns(payload)
    raise InvalidFailureRecord(
        "expected an SNS event carrying the on-failure record, "
        f"got {sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__}"
    )


def extract_failures(event: Mapping[str, Any]) -> list[FailureInput]:
    """Turn either accepted input into the on-failure records it carries."""
    if "detail-type" in event:
        envelope = EventBridgeEvent(dict(event))
        if envelope.detail_type != FAILURE_DETAIL_TYPE:
            raise InvalidFailureRecord(
                f"EventBridge event of detail-type {envelope.detail_type!r}; expected {FAILURE_DETAIL_TYPE!r}"
            )
        detail = envelope.detail
        if not isinstance(detail, Mapping):
            raise InvalidFailureRecord("EventBridge event has no detail object")
        jobkit = detail.get("jobkit")
        raw_fallback = jobkit.get("job") if isinstance(jobkit, Mapping) else None
        fallback = parse_fallback_job(raw_fallback) if raw_fallback is not None else None
        return [
            FailureInput(record=record, fallback=fallback, source="eventbridge")
            for record in _records_from_payload(detail.get("requestPayload"))
        ]
    return [FailureInput(record=record) for record in _records_from_payload(event)]


def handler(event: dict[str, Any], context: Any) -> None:
    """Write ``Failure`` for every failed record the event carries; raise on any failure."""
    invocation = runtime.start("error_handler", context, logger)
    try:
        for failure_input in extract_failures(event):
            failed = parse_on_failure_record(failure_input.record)
            logger.info(
                "handling failed record",
                extra={
                    "source": failure_input.source,
                    "stream_arn": failed.stream_arn,
                    "sequence_number": failed.start_sequence_number,
                    "condition": failed.condition,
                },
            )
            outcome = handle_failure(
                failed,
                reader=invocation.adapters.streams,
                writer=invocation.writer,
                plans=invocation.adapters.plans,
                clock=invocation.clock,
                bumper=invocation.adapters.store,
                fallback=failure_input.fallback,
            )
            logger.info(
                "job marked Failure",
                extra={"job_id": outcome.job_id, "status": dict(outcome.status), "version": outcome.version},
            )
    except Exception:
        logger.exception("error handling failed; the asynchronous invocation will retry or go to EventBridge")
        raise
