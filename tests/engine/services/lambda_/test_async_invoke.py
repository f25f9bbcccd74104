"""Asynchronous invocation: retries with Lambda's delays (on a sped-up clock), event age, destination records."""

from __future__ import annotations

import threading
import time
from typing import Any

from jobkit.client.waiting import wait_for
from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.errors import AwsError
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker, Dropped, InvokeConfig, destination_record
from tests.engine.conftest import FakeInvoker, result

ARN = "arn:aws:lambda:us-east-1:000000000000:function:handler"
BUS = "arn:aws:events:us-east-1:000000000000:event-bus/FailedJobsEventBus"


def make(invoker: FakeInvoker, config: InvokeConfig, clock: SandboxClock) -> tuple[AsyncInvoker, list[Any]]:
    sent: list[Any] = []
    return AsyncInvoker(invoker, clock, lambda arn, record, kind: sent.append((arn, record, kind)),
                        {ARN: config}), sent


def test_retries_twice_with_aws_delays_then_failure_destination() -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom"))
    clock = SandboxClock(scale=600)  # 60 s + 120 s of retry delays take 0.3 s
    invoking, sent = make(invoker, InvokeConfig(on_failure=BUS), clock)
    began = clock.now()
    invoking.submit(ARN, {"job": 1}, request_id="r-1")
    assert invoking.wait_idle(10)
    assert len(invoker.calls) == 3
    assert clock.now() - began >= 180
    destination, record, kind = sent[0]
    assert destination == BUS and kind == "Lambda Function Invocation Result - Failure"
    assert record["requestContext"] == {"requestId": "r-1", "functionArn": f"{ARN}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"job": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "Boom"
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")


def test_zero_retries_and_success_destination() -> None:
    calls: list[int] = []

    def respond(event: dict[str, Any]) -> Any:
        calls.append(1)
        return result({"ok": True})

    invoking, sent = make(FakeInvoker(respond=respond),
                          InvokeConfig(maximum_retry_attempts=0, on_success="arn:aws:sqs:us-east-1:0:q"),
                          SandboxClock())
    invoking.submit(ARN, {})
    assert invoking.wait_idle(10)
    assert len(calls) == 1
    assert sent[0][2] == "Lambda Function Invocation Result - Success"
    assert sent[0][1]["requestContext"]["condition"] == "Success" and sent[0][1]["responsePayload"] == {"ok": True}
    assert "functionError" not in sent[0][1]["responseContext"]


def test_event_older_than_maximum_age_is_discarded() -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom"))
    clock = SandboxClock(scale=600)
    invoking, sent = make(invoker, InvokeConfig(maximum_retry_attempts=2, maximum_event_age=90, on_failure=BUS),
                          clock)
    invoking.submit(ARN, {})
    assert invoking.wait_idle(10)
    assert len(invoker.calls) == 2  # the third attempt would come 180 s after the event: past 90 s
    assert sent[0][1]["requestContext"]["condition"] == "EventAgeExceeded"


def test_submit_returns_at_once() -> None:
    invoker = FakeInvoker(respond=lambda event: (time.sleep(0.3), result(None))[1])
    invoking, _ = make(invoker, InvokeConfig(), SandboxClock())
    began = time.monotonic()
    invoking.submit(ARN, {})
    assert time.monotonic() - began < 0.1
    wait_for(lambda: invoker.calls, bool, timeout=5, describe="the invocation")
    assert invoking.wait_idle(5)


def test_record_without_any_attempt() -> None:
    record = destination_record(ARN, {"a": 1}, "r", None, 0, "EventAgeExceeded", 0.0)
    assert record["timestamp"] == "1970-01-01T00:00:00.000Z"
    assert "responseContext" not in record and record["requestContext"]["approximateInvokeCount"] == 0


def test_reset_drops_events_waiting_for_a_retry_and_the_outcome_of_one_running() -> None:
    release = threading.Event()

    def respond(event: dict[str, Any]) -> Any:
        if event.get("slow"):
            assert release.wait(10), "the test never released the invocation"
        return result(error="Boom")

    invoker = FakeInvoker(respond=respond)
    sent: list[Any] = []
    attempted: list[dict[str, Any]] = []
    invoking = AsyncInvoker(invoker, SandboxClock(), lambda arn, record, kind: sent.append(record),
                            {ARN: InvokeConfig(on_failure=BUS)},  # retries 60 s apart
                            on_attempt=lambda arn, event, answer, attempt: attempted.append(event))
    invoking.submit(ARN, {"retried": True})
    invoking.submit(ARN, {"slow": True})
    wait_for(lambda: (len(invoker.calls), attempted), lambda seen: seen[0] == 2 and seen[1] == [{"retried": True}],
             timeout=10, describe="the slow one running, the other waiting for its retry")

    dropped = invoking.reset()

    assert (dropped.running, dropped.waiting) == (1, 1)
    release.set()
    assert invoking.wait_idle(10)  # the retry's wait ends at once; the running one ends with its invocation
    assert len(invoker.calls) == 2 and sent == []  # no retry, no destination record
    assert invoking.reset() == Dropped(running=0, waiting=0)


class Throttled(FakeInvoker):
    """Refuses the first ``refusals`` invocations as the Lambda service does a throttle (never runs them)."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.refused = 0

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> Any:
        if self.refused < self.refusals:
            self.refused += 1
            raise AwsError("TooManyRequestsException", "Rate Exceeded.", 429)
        return super().invoke(function, payload, request_id)


def test_a_throttled_event_is_retried_without_spending_a_retry_attempt() -> None:
    invoker = Throttled(refusals=3)
    refusals: list[int] = []
    sent: list[Any] = []
    invoking = AsyncInvoker(invoker, SandboxClock(scale=600), lambda arn, record, kind: sent.append(record),
                            {ARN: InvokeConfig(maximum_retry_attempts=0, on_success=BUS)},
                            on_refused=lambda arn, event, error, n: refusals.append(n))
    invoking.submit(ARN, {"job": 1})
    assert invoking.wait_idle(10)
    assert refusals == [1, 2, 3] and len(invoker.calls) == 1
    assert sent[0]["requestContext"]["condition"] == "Success"
    assert sent[0]["requestContext"]["approximateInvokeCount"] == 1


def test_an_event_throttled_past_its_maximum_age_goes_to_the_failure_destination_never_invoked() -> None:
    invoker = Throttled(refusals=10_000)
    invoking, sent = make(invoker, InvokeConfig(maximum_event_age=60, on_failure=BUS), SandboxClock(scale=600))
    invoking.submit(ARN, {"job": 1}, request_id="r-1")
    assert invoking.wait_idle(10)
    assert invoker.calls == [] and invoker.refused >= 2  # 1 s, 2 s, 4 s, ... of sandbox time: past 60 s
    [(destination, record, kind)] = sent
    assert destination == BUS and kind == "Lambda Function Invocation Result - Failure"
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record and "responsePayload" not in record


def test_a_record_the_destination_refuses_is_dropped_and_logged(caplog: Any) -> None:
    def refuse(arn: str, record: dict[str, Any], kind: str) -> None:
        raise AwsError("InternalException", "refused", 500)

    invoking = AsyncInvoker(FakeInvoker(respond=lambda event: result(error="Boom")), SandboxClock(), refuse,
                            {ARN: InvokeConfig(maximum_retry_attempts=0, on_failure=BUS)})
    with caplog.at_level("WARNING"):
        invoking.submit(ARN, {})
        assert invoking.wait_idle(10)
    assert any("DestinationDeliveryFailures" in message and BUS in message for message in caplog.messages)
