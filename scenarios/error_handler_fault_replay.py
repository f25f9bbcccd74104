"""5. An error handler that fails: the failure reaches the bus and the archive, the job shows no Failure;
once the fault is lifted, ``jobkit replay`` re-drives it and the job records Failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobkit.client.waiting import wait_for
from jobkit.failed_events import job_of, list_failed
from jobkit.replay import replay_archive
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def fail_through_to_the_bus(ctx: ScenarioContext) -> tuple[str, str, str]:
    """Submits a job whose first consumer's processor and error handler both raise; waits for the bus."""
    first = ctx.consumers[0]
    before = ctx.archive_count()
    plan = ctx.faults.put("eh", {"where": "processor", "kind": "raise", "consumers": [first]},
                          {"where": "error_handler", "kind": "raise", "consumers": [first]})
    job = ctx.submit(seconds=1, fault=plan)
    ctx.wait_archive_count(before + 1)
    wait_for(lambda: [e for e in list_failed(ctx.deployment) if (j := job_of(ctx.deployment, e)) and j["id"] == job],
             bool, timeout=60, describe=f"the failure of job {job} in the captured failed events")
    seen = ctx.api.statuses(job)
    expect(seen.get(first, {}).get("status") != "Failure",
           f"{first} without Failure while its error handler fails", seen, [job])
    return job, plan, first


def run(ctx: ScenarioContext) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    job, plan, first = fail_through_to_the_bus(ctx)
    ctx.faults.lift(plan)
    result = replay_archive(ctx.deployment, since=started, until=datetime.now(UTC) + timedelta(seconds=1))
    expect(result.state == "COMPLETED", "the replay COMPLETED", result.state, [job])
    expect(any((j := job_of(ctx.deployment, e)) and j["id"] == job for e in result.events),
           "the job's failure among the replayed events", [e.id for e in result.events], [job])
    seen = ctx.wait_statuses(job, {first: "Failure"})
    expect(seen[first].get("seconds") == 1, f"{first} Failure with seconds 1 after the replay", seen, [job])


scenario = Scenario(name="error_handler_fault_replay",
                    title="Error handler fails: bus + archive; replay records Failure",
                    run=run, exclusive=True, timeout=180)
