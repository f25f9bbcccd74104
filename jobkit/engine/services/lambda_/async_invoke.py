"""Lambda's asynchronous invocation: the event queue, retries, maximum event age and destinations.

"Asynchronous invocation" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html): on a function
error Lambda retries up to MaximumRetryAttempts times (default 2), waiting one minute before the second attempt
and two minutes before the third; an event older than MaximumEventAgeInSeconds (default 6 h) is discarded.
"Capturing records of Lambda asynchronous invocations"
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): the record (version,
timestamp, requestContext{requestId, functionArn, condition, approximateInvokeCount}, requestPayload,
responseContext, responsePayload) goes to the OnSuccess/OnFailure destination (SNS, SQS, Lambda, EventBridge).
Waits use the sandbox clock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.errors import AwsError
from jobkit.engine.services.lambda_.functions import Invoker, UnknownFunctionError
from jobkit.lambda_runtime.function import InvocationResult
from jobkit.lambda_runtime.report import log_timestamp

RETRY_DELAYS = (60.0, 120.0)
#: the waits between attempts the Lambda service refused (a throttle): 1 s, doubling, at most 5 min
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0
LOG = logging.getLogger(__name__)
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 6 * 3600

Sender = Callable[[str, dict[str, Any], str], None]  # (destination ARN, record, detail-type) -> None
Refused = Callable[[str, dict[str, Any], AwsError, int], None]  # (function ARN, event, error, refusals so far)


@dataclass(frozen=True)
class InvokeConfig:
    maximum_retry_attempts: int = DEFAULT_RETRIES
    maximum_event_age: int = DEFAULT_MAX_AGE
    on_success: str | None = None
    on_failure: str | None = None

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> InvokeConfig:
        """From an AWS::Lambda::EventInvokeConfig's properties or a FunctionEventInvokeConfig of the Lambda API
        (the same names)."""
        destinations = props.get("DestinationConfig") or {}
        return cls(
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
            maximum_event_age=int(props.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)),
            on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
            on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None,
        )


@dataclass(eq=False)
class _Queued:
    """An event between its submission and its end: ``dropped`` is set by a reset or a stop."""

    dropped: threading.Event
    invoking: bool = False


@dataclass(frozen=True)
class Dropped:
    """What a reset dropped: events whose invocation was running (its outcome, retries and destination record
    dropped; the run itself ends on its own) and events waiting for an attempt (a retry's delay)."""

    running: int
    waiting: int


class AsyncInvoker:
    """Queues events for functions and runs each event's attempts on a thread of its own."""

    def __init__(self, invoker: Invoker, clock: SandboxClock, send: Sender,
                 configs: dict[str, InvokeConfig] | None = None,
                 on_attempt: Callable[[str, dict[str, Any], InvocationResult, int], None] | None = None,
                 on_refused: Refused | None = None) -> None:
        self.invoker = invoker
        self.clock = clock
        self.send = send
        self.configs = configs or {}
        self.on_attempt = on_attempt
        self.on_refused = on_refused
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._queued: set[_Queued] = set()

    def submit(self, function: str, event: dict[str, Any], request_id: str | None = None) -> str:
        """InvocationType=Event: returns the request id at once (the 202 of Invoke)."""
        request_id = request_id or str(uuid.uuid4())
        arn = self.invoker.arn_of(function)
        enqueued = self.clock.now()
        queued = _Queued(threading.Event())
        thread = threading.Thread(target=self._run, args=(arn, event, request_id, enqueued, queued),
                                  name=f"jobkit-async-{request_id[:8]}", daemon=True)
        with self._lock:
            if self._stop.is_set():
                queued.dropped.set()
            self._queued.add(queued)
            self._pending += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return request_id

    def _run(self, arn: str, event: dict[str, Any], request_id: str, enqueued: float, queued: _Queued) -> None:
        try:
            self._attempts(arn, event, request_id, enqueued, queued)
        except UnknownFunctionError:
            pass  # the function was deleted while its event waited: the event goes with it
        except Exception:
            if not self._stop.is_set():  # stopping cuts in-flight events short; anything else is the engine's bug
                traceback.print_exc()
        finally:
            with self._lock:
                self._queued.discard(queued)
                self._pending -= 1
                self._idle.notify_all()

    def _attempts(self, arn: str, event: dict[str, Any], request_id: str, enqueued: float, queued: _Queued) -> None:
        config = self.configs.get(arn, InvokeConfig())
        payload = json.dumps(event).encode()
        result: InvocationResult | None = None
        attempts = refusals = 0
        delay = 0.0
        while True:
            if delay and self.clock.wait(delay, queued.dropped):
                return
            if queued.dropped.is_set():
                return
            if self.clock.now() - enqueued > config.maximum_event_age:
                self._finish(config, arn, event, request_id, result, attempts, "EventAgeExceeded")
                return
            with self._lock:
                queued.invoking = True
            try:
                result = self.invoker.invoke(arn, payload, request_id)
            except AwsError as refused:  # throttled, or the service's own error: the function never ran
                # "For throttling errors (429) and system errors (500-series), Lambda returns the event to the
                # queue and attempts to run the function again for up to 6 hours ... The retry interval
                # increases exponentially from 1 second after the first attempt to a maximum of 5 minutes"
                # (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html); not a
                # retry attempt: the maximum event age ends it
                refusals += 1
                if self.on_refused is not None:
                    self.on_refused(arn, event, refused, refusals)
                delay = min(THROTTLE_FIRST_DELAY * 2 ** (refusals - 1), THROTTLE_MAX_DELAY)
                continue
            finally:
                with self._lock:
                    queued.invoking = False
            attempts += 1
            if queued.dropped.is_set():  # dropped while the function ran: its outcome goes with it
                return
            if self.on_attempt is not None:
                self.on_attempt(arn, event, result, attempts)
            if not result.is_error:
                self._finish(config, arn, event, request_id, result, attempts, "Success")
                return
            if attempts > config.maximum_retry_attempts:
                self._finish(config, arn, event, request_id, result, attempts, "RetriesExhausted")
                return
            delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]

    def _finish(self, config: InvokeConfig, arn: str, event: dict[str, Any], request_id: str,
                result: InvocationResult | None, attempts: int, condition: str) -> None:
        success = condition == "Success"
        destination = config.on_success if success else config.on_failure
        if not destination:
            return
        record = destination_record(arn, event, request_id, result, attempts, condition, time.time())
        detail_type = f"Lambda Function Invocation Result - {'Success' if success else 'Failure'}"
        try:
            self.send(destination, record, detail_type)
        except Exception as exc:  # the record is not retried: it is lost, as on Lambda
            # "If Lambda can't send a record to a destination you have configured, it sends a
            # DestinationDeliveryFailures metric to Amazon CloudWatch" ("Capturing records of Lambda asynchronous
            # invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)
            LOG.warning("DestinationDeliveryFailures: the %s record of %s (request %s) could not be sent to %s "
                        "(%s: %s)", condition, arn, request_id, destination, type(exc).__name__, exc)

    def configure(self, arn: str, config: InvokeConfig | None) -> None:
        """A function's configuration from now on (PutFunctionEventInvokeConfig and its kin at runtime); None
        for Lambda's defaults. An event already being retried keeps the configuration it started with."""
        with self._lock:
            if config is None:
                self.configs.pop(arn, None)
            else:
                self.configs[arn] = config

    def wait_idle(self, timeout: float) -> bool:
        """Until no event is queued or running (tests, and a clean stop)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def reset(self) -> Dropped:
        """Drops every event queued, waiting for a retry or running (a sandbox reset): none is attempted again,
        none reaches a destination. An invocation already running ends on its own, its outcome unused."""
        with self._lock:
            queued = list(self._queued)
            for each in queued:
                each.dropped.set()
            self._queued.clear()
            running = sum(each.invoking for each in queued)
        return Dropped(running=running, waiting=len(queued) - running)

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            for each in self._queued:
                each.dropped.set()


def destination_record(arn: str, event: dict[str, Any], request_id: str, result: InvocationResult | None,
                       attempts: int, condition: str, now: float) -> dict[str, Any]:
    """The invocation record Lambda sends to a destination (see the module docstring)."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": log_timestamp(now),
        "requestContext": {"requestId": request_id, "functionArn": f"{arn}:$LATEST", "condition": condition,
                           "approximateInvokeCount": attempts},
        "requestPayload": event,
    }
    if result is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result.is_error:
            context["functionError"] = "Unhandled"
        record["responseContext"] = context
        try:
            record["responsePayload"] = result.json()
        except ValueError:
            record["responsePayload"] = result.payload.decode(errors="replace")
    return record
