"""12. Many jobs at once, 10 % of them with a processor fault: every job ends Success or Failure for each
consumer, none lost, none with a duplicated result (``version`` = exactly two writes per consumer).

A consumer runs at most ParallelizationFactor batches of a shard at once ("Using AWS Lambda with Amazon
DynamoDB"), and LocalStack one (it ignores the factor), so in real time the count is bounded by the jobs' own
seconds: the embedded target, whose clock is sped up, runs 200; real-time targets run 30.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect

COUNT = {"embedded": 200}
DEFAULT_COUNT = 30


def run(ctx: ScenarioContext) -> None:
    count = COUNT.get(ctx.target, DEFAULT_COUNT)
    first = ctx.consumers[0]
    plan = ctx.faults.put("ten-percent", {"where": "processor", "kind": "raise", "consumers": [first]})
    faulted = set(range(0, count, 10))
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda i: ctx.submit(seconds=1, fault=plan if i in faulted else None), range(count)))
    expect(len(set(ids)) == count, f"{count} distinct job ids", len(set(ids)))
    timeout = 60 + 2.5 * count
    for index, job in enumerate(ids):
        expected = ctx.all_consumers("Success")
        if index in faulted:
            expected[first] = "Failure"
        ctx.wait_statuses(job, expected, timeout=timeout)
        item = ctx.item(job)
        writes = 2 * len(ctx.consumers)
        expect(item is not None and int(item["version"]["N"]) == writes,
               f"version {writes}: no lost or duplicated write", item and item["version"], [job])


scenario = Scenario(name="many_jobs", title="Many jobs with 10 % faults: none lost, none duplicated", run=run,
                    timeout=900, long=True)
