"""The stream mapping's on-failure destination fails: a Chaos API fault on SNS ``Publish`` meets the mapping's
on-failure record of a failing batch. "If the error handling measures fail, Lambda discards the records and
continues processing batches from the stream" ("Retaining discarded records for a DynamoDB event source in
Lambda", https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html): the batch is discarded
and logged, nothing reaches the error handler, and the job's consumer status stays Running (never Failure);
the other consumer is unaffected."""

from __future__ import annotations

from jobkit.client.waiting import wait_for
from scenarios._chaos import NEEDS, faults, hops, named
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    first, *others = ctx.consumers
    plan = ctx.faults.put("raise", {"where": "processor", "kind": "raise", "consumers": [first]})
    rule = {"service": "sns", "operation": "Publish", "region": ctx.deployment.region,
            "error": {"statusCode": 500, "code": "InternalError"}}
    with faults(ctx, rule):
        job = ctx.submit(seconds=1, fault=plan)
        seen = wait_for(lambda: hops(ctx, job), lambda found: bool(named(found, "destination delivery failed")),
                        timeout=120, describe=f"job {job}'s on-failure record refused by SNS")
    failed = named(seen, "destination delivery failed")[0]
    expect("InternalError" in failed["detail"], "the delivery failed on the fault's code", failed, [job])
    expect(any("RetryAttemptsExhausted" in h["detail"] for h in named(seen, "mapping discard")),
           "the mapping's discard of the batch", [h["hop"] for h in seen], [job])
    statuses = ctx.wait_statuses(job, dict.fromkeys(others, "Success"))
    expect(statuses.get(first, {}).get("status") == "Running", f"{first} left Running: its batch was discarded, "
           "no error handler recorded Failure", statuses, [job])
    later = hops(ctx, job)
    reached = [h["hop"] for h in later if h["hop"] in ("SNS publish", "SNS -> error handler", "error handler invoked")]
    expect(not reached, "nothing past the refused Publish", reached, [job])


scenario = Scenario(name="chaos_on_failure_publish",
                    title="Chaos: on-failure Publish fails; the batch is discarded, no Failure recorded",
                    run=run, needs=NEEDS, exclusive=True, timeout=180)
