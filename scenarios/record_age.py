"""11. A record older than the mapping's maximum record age (6 h) goes straight to the on-failure
destination ("Using AWS Lambda with Amazon DynamoDB": MaximumRecordAgeInSeconds), and the job records
Failure with the condition ``RecordAgeExceeded``.

Reaching 6 h needs the sandbox clock. The first consumer's mapping is disabled (UpdateEventSourceMapping,
Enabled false), a job is submitted, the clock moves 7 h on, and the mapping is enabled again: it goes on
from where it stopped, and the job's record is then too old. (Holding the shard with a slow job no longer
works: with a ParallelizationFactor the next record usually runs in another lane.) Targets without a sandbox
clock report "not run".
"""

from __future__ import annotations

from typing import Any

import requests

from jobkit.client.waiting import wait_for
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def _mapping_state(lambda_: Any, mapping: str) -> str:
    return str(lambda_.get_event_source_mapping(UUID=mapping)["State"])


def run(ctx: ScenarioContext) -> None:
    first, *_ = ctx.consumers
    lambda_ = ctx.deployment.client("lambda")
    [mapping] = [m["UUID"] for m in lambda_.list_event_source_mappings(
        FunctionName=ctx.deployment["Consumer1FunctionName"])["EventSourceMappings"]]
    lambda_.update_event_source_mapping(UUID=mapping, Enabled=False)
    try:
        wait_for(lambda: _mapping_state(lambda_, mapping), lambda state: state == "Disabled", timeout=30,
                 describe=f"{first}'s mapping to be Disabled")
        old = ctx.submit(seconds=1)  # its record is in the stream once the API has answered
        answer = requests.post(f"{ctx.deployment.endpoint_url}/_jobkit/clock", json={"advance": 7 * 3600},
                               timeout=10)
        expect(answer.status_code == 200, "the sandbox clock to move on", answer.status_code, [old])
    finally:
        lambda_.update_event_source_mapping(UUID=mapping, Enabled=True)
    seen = ctx.wait_statuses(old, {first: "Failure"}, timeout=120)
    expect("RecordAgeExceeded" in str(seen[first].get("error", "")), "the condition RecordAgeExceeded",
           seen[first], [old])


scenario = Scenario(name="record_age", title="A record past the maximum record age goes to on-failure",
                    run=run, needs=frozenset({"sandbox clock"}), exclusive=True)
