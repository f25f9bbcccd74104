"""4. A processor that exceeds its Lambda timeout: the same error path, the timeout in the on-failure record.

The on-failure record of a stream mapping carries ``responseContext.functionError`` (see "Using AWS Lambda
with Amazon DynamoDB", on-failure destinations); the error handler records it in the job's ``error``.
"""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    first, *others = ctx.consumers
    plan = ctx.faults.put("timeout", {"where": "processor", "kind": "timeout", "consumers": [first]})
    job = ctx.submit(seconds=1, fault=plan)
    seen = ctx.wait_statuses(job, {first: "Failure", **dict.fromkeys(others, "Success")}, timeout=90)
    error = str(seen[first].get("error", ""))
    expect("Unhandled" in error or "timed out" in error.lower(),
           f"{first}'s error to carry the timeout from the on-failure record", error, [job])


scenario = Scenario(name="processor_timeout", title="Processor times out: Failure via SNS", run=run, timeout=150,
                    long=True)
