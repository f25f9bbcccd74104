"""7. Optimistic-lock contention: conflicts below the retry limit leave every status right and ``version``
equal to the writes made (the consumers' and the interfering ones); above the limit, the error path."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect

RETRY_ATTEMPTS = 5  # the stack's OPTIMISTIC_LOCKING_RETRY_ATTEMPTS default


def run(ctx: ScenarioContext) -> None:
    # Below the limit in the worst case too: a consumer's write fails once for each of its own `times` bumps
    # and once for each change the other consumer makes meanwhile (its `times` bumps and its write), so
    # 1 + (1 + 1) = 3 failures at most, under the 5 attempts. (With times 2, 2 + 3 = 5 could exhaust them,
    # which the embedded engine, whose first retry comes at once, showed.)
    times = 1
    below = ctx.faults.put("below", {"where": "processor", "kind": "conflict", "times": times})
    job = ctx.submit(seconds=1, fault=below)
    seen = ctx.wait_statuses(job, ctx.all_consumers("Success"))
    item = ctx.item(job)
    assert item is not None
    writes = 2 * len(ctx.consumers)  # Running and Success per consumer
    expected_version = writes * (1 + times)  # each write preceded by `times` interfering bumps
    expect(int(item["version"]["N"]) == expected_version, f"version {expected_version}", item["version"], [job])
    expect(all(seen[c].get("results") == "I slept for 1 seconds" for c in ctx.consumers),
           "every consumer's result kept", seen, [job])

    first, *others = ctx.consumers
    above = ctx.faults.put("above", {"where": "processor", "kind": "conflict", "times": RETRY_ATTEMPTS + 5,
                                     "consumers": [first]})
    job2 = ctx.submit(seconds=1, fault=above)
    seen2 = ctx.wait_statuses(job2, {first: "Failure", **dict.fromkeys(others, "Success")})
    expect("RetryAttemptsExhausted" in str(seen2[first].get("error", "")),
           f"{first} Failure through the on-failure record", seen2[first], [job2])


scenario = Scenario(name="lock_contention", title="Lock conflicts below and above the retry limit", run=run)
