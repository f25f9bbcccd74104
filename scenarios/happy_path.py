"""1. Happy path: every consumer ends Success with the result text."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    job = ctx.submit(seconds=1)
    seen = ctx.wait_statuses(job, ctx.all_consumers("Success"))
    for consumer in ctx.consumers:
        expect(seen[consumer].get("results") == "I slept for 1 seconds",
               f"{consumer} results 'I slept for 1 seconds'", seen[consumer], [job])
    item = ctx.item(job)
    expect(item is not None and item["version"]["N"] == str(2 * len(ctx.consumers)),
           f"version {2 * len(ctx.consumers)} (Running + Success per consumer)", item and item["version"], [job])


scenario = Scenario(name="happy_path", title="Both consumers Success with the result text", run=run)
