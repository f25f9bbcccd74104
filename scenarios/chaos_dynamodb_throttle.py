"""DynamoDB throttles the consumers' status writes: a Chaos API fault answers three in ten ``UpdateItem`` calls
with 400 ``ProvisionedThroughputExceededException``. The SDK in the functions retries a throttled call with
backoff ("Error retries and exponential backoff in AWS",
https://docs.aws.amazon.com/general/latest/gr/api-retries.html; DynamoDB: "Error handling with DynamoDB",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html), and the handlers'
optimistic locking keeps each write whole: every job reaches Success on both consumers, nothing is lost."""

from __future__ import annotations

from scenarios._chaos import NEEDS, faults
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect

JOBS = 4


def run(ctx: ScenarioContext) -> None:
    rule = {"service": "dynamodb", "operation": "UpdateItem", "region": ctx.deployment.region, "probability": 0.3,
            "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}
    with faults(ctx, rule):
        jobs = [ctx.submit(seconds=1) for _ in range(JOBS)]
        for job in jobs:
            seen = ctx.wait_statuses(job, ctx.all_consumers("Success"))
            for consumer, status in seen.items():
                expect(status.get("results") == "I slept for 1 seconds", f"{consumer}'s result written whole",
                       status, [job])
    for job in jobs:
        item = ctx.item(job) or {}
        expect(item.get("version", {}).get("N") == str(len(ctx.consumers) * 2),
               "one version per status write (Running, Success per consumer): no write lost or doubled",
               item.get("version"), [job])


scenario = Scenario(name="chaos_dynamodb_throttle",
                    title="Chaos: DynamoDB throttles status writes; retries hold, every job reaches Success",
                    run=run, needs=NEEDS, exclusive=True, timeout=240)
