"""The hop log's memory of which stream record belongs to which job stays bounded; what the Chaos API's faults
cause is kept in the job's trace."""

from __future__ import annotations

import json

from jobkit.engine.core.errors import AwsError
from jobkit.engine.core.hops import HopLog, HopObserver
from jobkit.engine.core.trace import JobTraces


def test_the_oldest_sequence_numbers_are_forgotten_first() -> None:
    log = HopLog(out=None, remembered=3)
    for n in range(5):
        log.remember(str(n), f"job-{n}")
    assert [log.job_of(str(n)) for n in range(5)] == ["-", "-", "job-2", "job-3", "job-4"]


def test_a_refused_delivery_and_a_throttled_event_are_kept_in_their_job_trace() -> None:
    log = HopLog(out=None)
    log.remember("100", "job-1")
    hops = HopObserver(log, JobTraces(10))
    on_failure = {"DDBStreamBatchInfo": {"startSequenceNumber": "100"}}
    hops.delivery_failed("arn:aws:sns:us-east-1:0:errors", on_failure, AwsError("InternalError", "x", 500))
    sns_event = {"Records": [{"Sns": {"Message": json.dumps(on_failure)}}]}
    hops.async_refused("arn:aws:lambda:us-east-1:0:function:ErrorHandler", sns_event,
                       AwsError("TooManyRequestsException", "x", 429), 2)
    hops.delivery_failed("arn:aws:events:us-east-1:0:event-bus/failed", {"requestPayload": sns_event},
                         AwsError("InternalException", "x", 500))
    kept = [(h["hop"], h["detail"]) for h in hops.traces.hops("job-1") or []]
    assert kept == [("destination delivery failed", "errors: InternalError"),
                    ("invocation throttled", "ErrorHandler TooManyRequestsException (refusal 2)"),
                    ("destination delivery failed", "event-bus/failed: InternalException")]
