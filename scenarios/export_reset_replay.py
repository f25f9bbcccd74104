"""6. Export the failed events, reset the sandbox's state of the job, replay them from the file: the job
ends as it would have (Failure for the consumer whose error handler failed, the others' statuses kept)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobkit.failed_events import export_jsonl, read_jsonl
from jobkit.replay import replay_file
from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect
from scenarios.error_handler_fault_replay import fail_through_to_the_bus


def run(ctx: ScenarioContext) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    job, plan, first = fail_through_to_the_bus(ctx)
    others = ctx.consumers[1:]
    ctx.wait_statuses(job, dict.fromkeys(others, "Success"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "failed.jsonl"
        count = export_jsonl(ctx.deployment, path, since=started)
        exported = [e for e in read_jsonl(path) if (e.job or {}).get("id") == job]
        expect(count >= 1 and len(exported) == 1, "exactly one exported event for the job", count, [job])
        expect(exported[0].event["detail"]["jobkit"]["item"]["id"] == {"S": job},
               "the export to carry the job's item", exported[0].event["detail"]["jobkit"], [job])
        ctx.faults.lift(plan)
        # reset: the sandbox forgets the job
        ctx.deployment.client("dynamodb").delete_item(
            TableName=ctx.deployment["JobsTableName"], Key={"id": {"S": job}})
        expect(ctx.item(job) is None, "the job gone after the reset", ctx.item(job), [job])
        result = replay_file(ctx.deployment, path)
    expect(result.state == "COMPLETED", "the replay COMPLETED", result.state, [job])
    seen = ctx.wait_statuses(job, {first: "Failure", **dict.fromkeys(others, "Success")})
    expect(seen[first].get("seconds") == 1, f"{first} Failure with seconds 1", seen, [job])


scenario = Scenario(name="export_reset_replay", title="Export failed events, reset, replay from the file",
                    run=run, exclusive=True, timeout=240)
