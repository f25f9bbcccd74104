"""One line per hop of a job through the engine, with the job id: what ``jobkit up`` shows while it runs.
The services report to ``HopObserver``; ``HopLog`` prints."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, TextIO

from jobkit.engine.core.trace import JobTraces, log_tail
from jobkit.lambda_runtime.function import InvocationResult
from jobkit.text import printable


@dataclass
class HopLog:
    """Prints hops and remembers which stream sequence number belongs to which job (the later hops only
    carry the sequence number)."""

    out: TextIO | None = field(default_factory=lambda: sys.stdout)
    #: the sequence numbers remembered at most (the oldest go first): far more than the records in flight
    remembered: int = 100_000
    _jobs: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, sequence_number: str, job_id: str) -> None:
        with self._lock:
            self._jobs[sequence_number] = job_id
            if len(self._jobs) > self.remembered:
                self._jobs.popitem(last=False)

    def job_of(self, sequence_number: str | None) -> str:
        with self._lock:
            return self._jobs.get(sequence_number or "", "-")

    def __call__(self, hop: str, job_id: str | None, detail: str = "") -> None:
        job = job_id or "-"
        if self.out is not None:
            # job ids and details come from requests (a path is decoded: %1b is ESC) and function output
            stamp = time.strftime("%H:%M:%S")
            line = printable(f"{stamp} job {job} | {hop}" + (f" | {detail}" if detail else ""))
            with self._lock:
                print(line, file=self.out, flush=True)


class HopObserver:
    """What each service reports of a job's path, told as hop lines and kept in the job's trace (``traces``): the
    services call it and never the engine that wired them. A later hop carries no job id (an on-failure record
    names the stream sequence number, an SNS message or an EventBridge event wraps the record), so the job is
    found through what it wraps."""

    def __init__(self, log: HopLog, traces: JobTraces | None = None) -> None:
        self.log = log
        self.traces = traces if traces is not None else JobTraces(0)

    # --- API Gateway --------------------------------------------------------------------------------------
    def api_result(self, method: str, path: str, status: int, request_id: str, received: float | None = None) -> None:
        """Submissions and refusals; the status reads (GET polling) would drown the log."""
        if method == "GET" and status < 400:
            return
        job = request_id if method == "POST" and status == 200 else path.rsplit("/", 1)[-1]
        self.log("request", job, f"{method} {path} -> {status}")
        if method == "POST" and status == 200:  # a refused request made no job to trace
            self.traces.record(job, "apigateway", "request", f"{method} {path} -> {status}", at=received,
                               status=status)

    # --- a stream and its mappings ------------------------------------------------------------------------
    def stream_record(self, record: dict[str, Any]) -> None:
        data = record["dynamodb"]
        job = str(data.get("Keys", {}).get("id", {}).get("S", "-"))
        self.log.remember(data["SequenceNumber"], job)
        image = data.get("NewImage")
        if record["eventName"] == "INSERT":  # MODIFY records are the consumers' own status writes
            self.log("item written", job)
            self.log("stream record", job, f"{record['eventName']} {data['SequenceNumber']}")
            self.traces.record(job, "dynamodb", "item written", "version 0", item=image)
            self.traces.record(job, "dynamodb", "stream record", f"INSERT {data['SequenceNumber']}",
                               sequence_number=data["SequenceNumber"])
        else:  # a status write: the item's version and statuses as written
            version = (image or {}).get("version", {}).get("N", "?")
            self.traces.record(job, "dynamodb", "item updated", f"{record['eventName']} version {version}",
                               item=image, sequence_number=data["SequenceNumber"])

    def batch_invoked(self, function: str, first_sequence_number: str, result: InvocationResult,
                      attempt: int) -> None:
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        job = self.log.job_of(first_sequence_number)
        self.log("consumer invoked", job,
                 f"{_name(function)} {result.duration_ms:.0f} ms {outcome} (attempt {attempt})")
        self._invoked(job, "consumer invoked", function, result, attempt)

    def mapping_decision(self, function: str, first_sequence_number: str, decision: str, detail: str) -> None:
        """A stream mapping's decision on a failed batch: ``retry``, ``bisect`` or ``discard`` (retries
        exhausted, record too old). Kept in the trace only: the hop lines stay one per invocation."""
        self.traces.record(self.log.job_of(first_sequence_number), "lambda", f"mapping {decision}", detail,
                           function=_name(function))

    def on_failure_record(self, destination: str, record: dict[str, Any]) -> None:
        job = self.log.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"])
        detail = f"{record['requestContext']['condition']} -> {_name(destination)}"
        self.log("on-failure record", job, detail)
        self.traces.record(job, "lambda", "on-failure record", detail)

    # --- SNS, asynchronous invocations, EventBridge ------------------------------------------------------------
    def sns_published(self, topic: str, message_id: str, message: str) -> None:
        """A message published to a topic (kept in the trace; the delivery is the hop line)."""
        if self.traces.limit:
            self.traces.record(self._job_of_failure(message), "sns", "SNS publish", f"{_name(topic)} {message_id}")

    def sns_to_function(self, topic: str, function: str, message: str) -> None:
        job, detail = self._job_of_failure(message), f"{_name(topic)} -> {_name(function)}"
        self.log("SNS -> error handler", job, detail)
        self.traces.record(job, "sns", "SNS -> error handler", detail, function=_name(function))

    def async_attempt(self, function: str, event: dict[str, Any], result: InvocationResult, attempt: int) -> None:
        name = _name(function)
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        hop = "error handler invoked" if "ErrorHandler" in name else "function invoked"
        job = self.job_of_event(event)
        self.log(hop, job, f"{name} {result.duration_ms:.0f} ms {outcome} (attempt {attempt})")
        self._invoked(job, hop, function, result, attempt)

    def async_refused(self, function: str, event: dict[str, Any], error: Exception, refusals: int) -> None:
        """An asynchronous invocation the Lambda service refused (a throttle): the event waits in the queue."""
        self.traces.record(self.job_of_event(event), "lambda", "invocation throttled",
                           f"{_name(function)} {getattr(error, 'code', type(error).__name__)} (refusal {refusals})",
                           function=_name(function))

    def delivery_failed(self, destination: str, record: dict[str, Any], error: Exception) -> None:
        """A record Lambda could not send to its destination (a mapping's on-failure record or an asynchronous
        invocation's): it is lost, as on AWS."""
        job = (self.log.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"]) if "DDBStreamBatchInfo" in record
               else self.job_of_event({"detail": record}))
        detail = f"{_name(destination)}: {getattr(error, 'code', type(error).__name__)}"
        self.log("destination delivery failed", job, detail)
        self.traces.record(job, "lambda", "destination delivery failed", detail)

    def bus_event(self, hop: str, where: str, event: dict[str, Any]) -> None:
        job, detail = self.job_of_event(event), f"{where} {event.get('detail-type', '')}"
        self.log(hop, job, detail)
        self.traces.record(job, "events", hop, detail, **({"replay": event["replay-name"]}
                                                           if "replay-name" in event else {}))

    def _invoked(self, job: str, hop: str, function: str, result: InvocationResult, attempt: int) -> None:
        """An invocation's hop: the error document is read only when the trace is (``trace.shown``)."""
        fields: dict[str, Any] = {"function": _name(function), "attempt": attempt,
                                  "duration_ms": round(result.duration_ms, 1),
                                  "outcome": "error" if result.is_error else "ok", "logs": log_tail(result.logs)}
        if result.is_error:
            fields["error"] = result.error_type
            fields["error_payload"] = result.payload
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        self.traces.record(job, "lambda", hop, f"{_name(function)} {outcome} (attempt {attempt})", **fields)

    # --- finding the job ----------------------------------------------------------------------------------
    def _job_of_failure(self, message: str) -> str:
        try:
            record = json.loads(message)
            return self.log.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"])
        except (ValueError, KeyError, TypeError):
            return "-"

    def job_of_event(self, event: dict[str, Any]) -> str:
        """The job behind an SNS event or an EventBridge envelope, through the on-failure record."""
        try:
            if "detail" in event:
                event = event["detail"].get("requestPayload", {})
            if "Records" in event:
                return self._job_of_failure(event["Records"][0]["Sns"]["Message"])
            if "DDBStreamBatchInfo" in event:
                return self.log.job_of(event["DDBStreamBatchInfo"]["startSequenceNumber"])
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        return "-"


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
