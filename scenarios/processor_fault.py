"""3. A processor that raises goes down the SNS error path to Failure; the other consumer is unaffected."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    first, *others = ctx.consumers
    plan = ctx.faults.put("raise", {"where": "processor", "kind": "raise", "consumers": [first]})
    job = ctx.submit(seconds=1, fault=plan)
    expected = {first: "Failure", **dict.fromkeys(others, "Success")}
    seen = ctx.wait_statuses(job, expected)
    expect(seen[first].get("seconds") == 1, f"{first} Failure with seconds 1", seen[first], [job])
    for other in others:
        expect(seen[other].get("results") == "I slept for 1 seconds", f"{other} unaffected", seen[other], [job])


scenario = Scenario(name="processor_fault", title="Processor raises: Failure via SNS, other consumer Success",
                    run=run)
