"""Lambda entry point ``handlers.processor.handler``: runs the jobs inserted in the jobs table.

Triggered by the table's DynamoDB stream through an event source mapping. Event shape: "Using AWS Lambda
with Amazon DynamoDB" (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Any failure is
raised so the mapping retries and then sends the batch to its on-failure destination (SNS).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from handlers import runtime
from handlers.domain.job import InvalidJob, parse_job
from handlers.domain.processing import Skipped, process_job, skip_reason
from handlers.runtime import Invocation

logger = runtime.make_logger()


def _process_record(record: DynamoDBRecord, invocation: Invocation) -> None:
    """One stream record: only INSERTs are jobs; MODIFY records are the consumers' own status writes."""
    settings = invocation.settings
    stream_record = record.dynamodb
    sequence_number = stream_record.sequence_number if stream_record else None
    if record.event_name is not None and record.event_name is not DynamoDBRecordEventName.INSERT:
        logger.debug(
            "skipping record: not an INSERT (a status write or a delete)",
            extra={"event_name": record.event_name.name, "sequence_number": sequence_number},
        )
        return
    image = stream_record.new_image if stream_record else {}
    if not image:
        raise InvalidJob(
            f"stream record {sequence_number} has no NewImage: the stream view type must include NEW_IMAGE"
        )
    job = parse_job(image)
    reason = skip_reason(job, settings.consumer_id)
    if reason is not None:
        logger.info("skipping record", extra={"job_id": job.id, "reason": reason})
        return
    if settings.timeout is None:  # load_settings("processor") always sets it
        raise RuntimeError("the processor needs TIMEOUT")
    logger.info("processing job", extra={"job_id": job.id, "seconds": job.seconds, "fault": job.fault})
    # the record's image is the item as inserted: the Running write starts from it (no read); a duplicate
    # delivery of a job already settled is recognised on the item as it is now
    outcome = process_job(
        job,
        invocation.writer,
        timeout=settings.timeout,
        plans=invocation.adapters.plans,
        clock=invocation.clock,
        bumper=invocation.adapters.store,
        current=image,
    )
    if isinstance(outcome, Skipped):
        logger.info("skipping record", extra={"job_id": job.id, "reason": outcome.reason})
        return
    logger.info(
        "job succeeded",
        extra={"job_id": outcome.job_id, "results": outcome.results, "version": outcome.version},
    )


def handler(event: dict[str, Any], context: Any) -> None:
    """Process every record of the batch in order; raise on the first failure."""
    invocation = runtime.start("processor", context, logger)
    for record in DynamoDBStreamEvent(event).records:
        try:
            _process_record(record, invocation)
        except Exception:
            logger.exception("processing failed; the event source mapping will retry or send it to SNS")
            raise
