"""One line per hop of a job through the engine, with the job id: what ``jobkit up`` shows while it runs.
The services report to ``HopObserver``; ``HopLog`` prints."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from jobkit.lambda_runtime.function import InvocationResult
from jobkit.text import printable


@dataclass
class HopLog:
    """Prints hops and remembers which stream sequence number belongs to which job (the later hops only
    carry the sequence number)."""

    out: TextIO | None = field(default_factory=lambda: sys.stdout)
    _jobs: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, sequence_number: str, job_id: str) -> None:
        with self._lock:
            self._jobs[sequence_number] = job_id

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
    """What each service reports of a job's path, told as hop lines: the services call it and never the engine
    that wired them. A later hop carries no job id (an on-failure record names the stream sequence number, an
    SNS message or an EventBridge event wraps the record), so the job is found through what it wraps."""

    def __init__(self, log: HopLog) -> None:
        self.log = log

    # --- API Gateway --------------------------------------------------------------------------------------
    def api_result(self, method: str, path: str, status: int, request_id: str) -> None:
        """Submissions and refusals; the status reads (GET polling) would drown the log."""
        if method == "GET" and status < 400:
            return
        job = request_id if method == "POST" and status == 200 else path.rsplit("/", 1)[-1]
        self.log("request", job, f"{method} {path} -> {status}")

    # --- a stream and its mappings ------------------------------------------------------------------------
    def stream_record(self, record: dict[str, Any]) -> None:
        data = record["dynamodb"]
        job = str(data.get("Keys", {}).get("id", {}).get("S", "-"))
        self.log.remember(data["SequenceNumber"], job)
        if record["eventName"] == "INSERT":  # MODIFY records are the consumers' own status writes
            self.log("item written", job)
            self.log("stream record", job, f"{record['eventName']} {data['SequenceNumber']}")

    def batch_invoked(self, function: str, first_sequence_number: str, result: InvocationResult,
                      attempt: int) -> None:
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        self.log("consumer invoked", self.log.job_of(first_sequence_number),
                 f"{_name(function)} {result.duration_ms:.0f} ms {outcome} (attempt {attempt})")

    def on_failure_record(self, destination: str, record: dict[str, Any]) -> None:
        job = self.log.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"])
        self.log("on-failure record", job, f"{record['requestContext']['condition']} -> {_name(destination)}")

    # --- SNS, asynchronous invocations, EventBridge ------------------------------------------------------------
    def sns_to_function(self, topic: str, function: str, message: str) -> None:
        self.log("SNS -> error handler", self._job_of_failure(message), f"{_name(topic)} -> {_name(function)}")

    def async_attempt(self, function: str, event: dict[str, Any], result: InvocationResult, attempt: int) -> None:
        name = _name(function)
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        self.log("error handler invoked" if "ErrorHandler" in name else "function invoked",
                 self.job_of_event(event), f"{name} {result.duration_ms:.0f} ms {outcome} (attempt {attempt})")

    def bus_event(self, hop: str, where: str, event: dict[str, Any]) -> None:
        self.log(hop, self.job_of_event(event), f"{where} {event.get('detail-type', '')}")

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
