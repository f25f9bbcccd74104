"""11. A record older than the mapping's maximum record age (6 h) goes straight to the on-failure
destination ("Using AWS Lambda with Amazon DynamoDB": MaximumRecordAgeInSeconds), and the job records
Failure with the condition ``RecordAgeExceeded``.

Reaching 6 h needs the sandbox clock: a job holds the shard (a delay fault) while the clock moves 7 h on;
the next job's record is then too old. Targets without a sandbox clock report "not run".
"""

from __future__ import annotations

import requests

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    first, *_ = ctx.consumers
    holder = ctx.faults.put("hold", {"where": "processor", "kind": "delay", "seconds": 30, "consumers": [first]})
    blocking = ctx.submit(seconds=1, fault=holder)
    ctx.wait_statuses(blocking, {first: "Running"})
    old = ctx.submit(seconds=1)
    endpoint = ctx.deployment.endpoint_url
    answer = requests.post(f"{endpoint}/_jobkit/clock", json={"advance": 7 * 3600}, timeout=10)
    expect(answer.status_code == 200, "the sandbox clock to move on", answer.status_code, [old])
    seen = ctx.wait_statuses(old, {first: "Failure"}, timeout=120)
    expect("RecordAgeExceeded" in str(seen[first].get("error", "")), "the condition RecordAgeExceeded",
           seen[first], [old, blocking])


scenario = Scenario(name="record_age", title="A record past the maximum record age goes to on-failure",
                    run=run, needs=frozenset({"sandbox clock"}), exclusive=True)
