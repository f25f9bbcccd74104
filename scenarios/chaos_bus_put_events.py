"""The error handler's on-failure destination (the bus) refuses the record: a Chaos API fault on EventBridge
``PutEvents``. "If Lambda can't send a record to a destination you have configured, it sends a
DestinationDeliveryFailures metric to Amazon CloudWatch" ("Capturing records of Lambda asynchronous
invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): the record
is not retried and is lost; nothing reaches the bus, its archive or the captured failures, and the job shows
no Failure."""

from __future__ import annotations

from jobkit.client.waiting import wait_for
from jobkit.failed_events import job_of, list_failed
from scenarios._chaos import NEEDS, faults, hops, named
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    first = ctx.consumers[0]
    plan = ctx.faults.put("eh", {"where": "processor", "kind": "raise", "consumers": [first]},
                          {"where": "error_handler", "kind": "raise", "consumers": [first]})
    rule = {"service": "events", "operation": "PutEvents", "region": ctx.deployment.region,
            "error": {"statusCode": 500, "code": "InternalException"}}
    with faults(ctx, rule):
        job = ctx.submit(seconds=1, fault=plan)
        seen = wait_for(lambda: hops(ctx, job), lambda found: bool(named(found, "destination delivery failed")),
                        timeout=120, describe=f"job {job}'s failure record refused by the bus")
    failed = named(seen, "destination delivery failed")[0]
    expect("InternalException" in failed["detail"], "the delivery failed on the fault's code", failed, [job])
    expect(any(h.get("outcome") == "error" for h in named(seen, "error handler invoked")),
           "the error handler ran and failed first", [h["hop"] for h in seen], [job])
    captured = [e.id for e in list_failed(ctx.deployment) if (j := job_of(ctx.deployment, e)) and j["id"] == job]
    expect(not captured, "the refused record nowhere among the captured failures", captured, [job])
    statuses = ctx.api.statuses(job)
    expect(statuses.get(first, {}).get("status") != "Failure", f"{first} without Failure", statuses, [job])


scenario = Scenario(name="chaos_bus_put_events",
                    title="Chaos: the bus refuses the error handler's failure record; it is lost, as on Lambda",
                    run=run, needs=NEEDS, exclusive=True, timeout=180)
