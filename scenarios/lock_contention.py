"""7. Optimistic-lock contention: conflicts below the retry limit leave every status right and ``version``
equal to the writes made (the consumers' and the interfering ones); above the limit, the error path."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect

RETRY_ATTEMPTS = 5  # the stack's OPTIMISTIC_LOCKING_RETRY_ATTEMPTS default


def run(ctx: ScenarioContext) -> None:
    # Below the limit in every interleaving: only the first consumer's writes meet an interfering bump (one
    # before each). Its write then fails at most once for its own bump and once for each change of the other
    # consumer (its Running and its Success): 3. The other consumer's write fails at most once per change the
    # first makes meanwhile (two bumps, two writes): 4, under the 5 attempts. (Bumps before every consumer's
    # writes could reach 5 when one consumer finishes its whole job between another's retries, which a loaded
    # machine running batches in parallel showed.)
    first, *others = ctx.consumers
    times = 1
    below = ctx.faults.put("below", {"where": "processor", "kind": "conflict", "times": times,
                                     "consumers": [first]})
    job = ctx.submit(seconds=1, fault=below)
    seen = ctx.wait_statuses(job, ctx.all_consumers("Success"))
    item = ctx.item(job)
    assert item is not None
    writes = 2 * len(ctx.consumers)  # Running and Success per consumer
    expected_version = writes + 2 * times  # and the bumps before the first consumer's two writes
    expect(int(item["version"]["N"]) == expected_version, f"version {expected_version}", item["version"], [job])
    expect(all(seen[c].get("results") == "I slept for 1 seconds" for c in ctx.consumers),
           "every consumer's result kept", seen, [job])

    above = ctx.faults.put("above", {"where": "processor", "kind": "conflict", "times": RETRY_ATTEMPTS + 5,
                                     "consumers": [first]})
    job2 = ctx.submit(seconds=1, fault=above)
    seen2 = ctx.wait_statuses(job2, {first: "Failure", **dict.fromkeys(others, "Success")})
    expect("RetryAttemptsExhausted" in str(seen2[first].get("error", "")),
           f"{first} Failure through the on-failure record", seen2[first], [job2])


scenario = Scenario(name="lock_contention", title="Lock conflicts below and above the retry limit", run=run)
