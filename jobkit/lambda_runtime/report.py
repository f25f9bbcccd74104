"""What the Lambda *platform* (not the function) writes and answers: START/END/REPORT log lines and the
error documents of timeouts and runtime exits.

Formats, as Lambda writes them:
- START/END/REPORT, tab-separated REPORT fields, `Init Duration` on an environment's first invocation and
  billing that includes it: https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
- A timeout answers `{"errorMessage": "RequestId: <id> Error: Task timed out after 1.00 seconds",
  "errorType": "Sandbox.Timedout"}` and logs `<time> <id> Task timed out after 1.00 seconds`; the REPORT
  line then ends with `Status: timeout`. The error type is documented in "Troubleshoot invocation issues
  in Lambda" (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html, "Function times
  out ... (Sandbox.Timedout)"); the `RequestId: <id> Error:` prefix is what Lambda answers today and what
  LocalStack's own runtime init (localstack/lambda-runtime-init) answers.
- `INIT_REPORT Init Duration: …  Phase: init  Status: error  Error Type: …` after a failed Init phase, and
  the 10 s Init limit: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
- A runtime that exits mid-invocation answers `Runtime.ExitError` with "Runtime exited with error: exit status
  N" (or "signal: killed"), the same prefix, and `Status: error  Error Type: Runtime.ExitError` in REPORT.
"""

from __future__ import annotations

import json
import math
import signal
import time

TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"
EXIT_ERROR_TYPE = "Runtime.ExitError"


def log_timestamp(epoch: float | None = None) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. `2024-05-01T12:00:03.005Z`: how Lambda writes its log lines and
    destination records, and SNS its `Timestamp`."""
    now = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None) -> int:
    return math.ceil(duration_ms + (init_duration_ms or 0.0))


def report_line(
    request_id: str,
    duration_ms: float,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed_duration_ms(duration_ms, init_duration_ms)} ms",
        f"Memory Size: {memory_size_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\n"


def init_report_line(init_duration_ms: float, phase: str, status: str, error_type: str | None) -> str:
    fields = [f"INIT_REPORT Init Duration: {init_duration_ms:.2f} ms", f"Phase: {phase}", f"Status: {status}"]
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\n"


def timeout_message(timeout_s: float) -> str:
    return f"Task timed out after {timeout_s:.2f} seconds"


def timeout_error(request_id: str, timeout_s: float) -> bytes:
    return _platform_error(request_id, timeout_message(timeout_s), TIMEOUT_ERROR_TYPE)


def timeout_log_line(request_id: str, timeout_s: float) -> str:
    return f"{log_timestamp()} {request_id} {timeout_message(timeout_s)}\n"


def exit_reason(returncode: int | None) -> str:
    """Lambda's wording for how the runtime process ended (Go's exit-status strings)."""
    if returncode is None:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        try:
            name = (signal.strsignal(-returncode) or f"signal {-returncode}").lower()
        except ValueError:
            name = f"signal {-returncode}"
        return f"Runtime exited with error: signal: {name}"
    if returncode == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {returncode}"


def exit_error(request_id: str, reason: str) -> bytes:
    return _platform_error(request_id, reason, EXIT_ERROR_TYPE)


def exit_log_lines(request_id: str, reason: str) -> str:
    return f"RequestId: {request_id} Error: {reason}\n{EXIT_ERROR_TYPE}\n"


def _platform_error(request_id: str, message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": f"RequestId: {request_id} Error: {message}", "errorType": error_type}).encode()
