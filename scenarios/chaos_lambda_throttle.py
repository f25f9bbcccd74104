"""Lambda throttles every invocation: a Chaos API fault answers lambda ``Invoke`` with 429
``TooManyRequestsException``. The stream mappings retry the throttled batch "until the records expire or
exceed the maximum age" (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html), then
send the on-failure record (RecordAgeExceeded) to SNS; the error handler's asynchronous event is throttled in
turn and "Lambda returns the event to the queue and attempts to run the function again for up to 6 hours"
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), then its record goes to
the on-failure destination, the bus, with the condition EventAgeExceeded and no invocation made.

The 6 h of each are crossed with the sandbox clock, moved on while the scenario watches."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from jobkit.client.waiting import wait_for
from jobkit.failed_events import FailedEvent, job_of, list_failed
from scenarios._chaos import NEEDS, advance_clock, faults, hops, named
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect

#: each move of the sandbox clock: past the records' and the events' maximum age (6 h)
STEP = 7 * 3600
#: the wall time between two moves, so that the throttled retries see each one
EVERY = 2.0


def run(ctx: ScenarioContext) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    rule = {"service": "lambda", "operation": "Invoke", "region": ctx.deployment.region,
            "error": {"statusCode": 429, "code": "TooManyRequestsException"}}
    with faults(ctx, rule):
        job = ctx.submit(seconds=1)
        wait_for(lambda: hops(ctx, job), lambda found: len({h.get("function") for h in named(found, "mapping retry")
                                                            if "TooManyRequests" in h["detail"]}) == len(ctx.consumers),
                 timeout=120, describe=f"every consumer's batch of job {job} throttled and retried")
        moved = [0.0]

        def failures() -> list[FailedEvent]:
            if time.monotonic() - moved[0] >= EVERY:
                advance_clock(ctx, STEP)
                moved[0] = time.monotonic()
            return [e for e in list_failed(ctx.deployment, since=started)
                    if (j := job_of(ctx.deployment, e)) and j["id"] == job]

        found = wait_for(failures, lambda events: len(events) >= len(ctx.consumers), timeout=180, interval=0.5,
                         describe=f"job {job}'s failure records from every error handler on the bus")
    seen = hops(ctx, job)
    expect(bool(named(seen, "invocation throttled")), "the error handlers' events throttled and retried",
           [h["hop"] for h in seen], [job])
    for event in found:
        detail: dict[str, Any] = event.event["detail"]
        context = detail["requestContext"]
        expect(context["condition"] == "EventAgeExceeded" and context["approximateInvokeCount"] == 0,
               "EventAgeExceeded with no invocation made", context, [job])
    statuses = (ctx.item(job) or {}).get("job_status", {}).get("M", {})
    expect(statuses == {}, "no consumer ran: no status on the job", statuses, [job])


scenario = Scenario(name="chaos_lambda_throttle",
                    title="Chaos: Lambda throttles; batches retried to their age, the error handler's event to the bus",
                    run=run, needs=NEEDS | {"sandbox clock"}, exclusive=True, timeout=360)
