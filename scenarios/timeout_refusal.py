"""2. The pattern's own failure: a job longer than TIMEOUT is refused by both processors; their on-failure
records reach SNS, the error handlers record Failure with the job's seconds."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    job = ctx.submit(seconds=301)
    seen = ctx.wait_statuses(job, ctx.all_consumers("Failure"))
    for consumer in ctx.consumers:
        expect(seen[consumer].get("seconds") == 301, f"{consumer} Failure with seconds 301", seen[consumer], [job])
        expect("RetryAttemptsExhausted" in str(seen[consumer].get("error", "")),
               f"{consumer}'s error naming the on-failure condition RetryAttemptsExhausted", seen[consumer], [job])


scenario = Scenario(name="timeout_refusal", title="seconds > TIMEOUT ends Failure through SNS", run=run)
