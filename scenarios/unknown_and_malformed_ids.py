"""10. ``GET`` of an unknown id is a 404 with a JSON message; a malformed id is a 4xx, never a 5xx."""

from __future__ import annotations

from scenarios._context import ScenarioContext
from scenarios._model import Scenario, expect


def run(ctx: ScenarioContext) -> None:
    unknown = ctx.api.get("00000000-0000-0000-0000-000000000000")
    expect(unknown.status == 404 and unknown.message == "Job not found", "404 'Job not found'",
           (unknown.status, unknown.text[:200]))
    for label, job_id in {"quote": "it's", "unicode": "jöb-ü", "too long for a key": "x" * 2100}.items():
        answer = ctx.api.get(job_id)
        expect(400 <= answer.status < 500, f"{label}: a 4xx", (answer.status, answer.text[:200]))
        expect(bool(answer.message), f"{label}: a message", answer.text[:200])


scenario = Scenario(name="unknown_and_malformed_ids", title="GET unknown id 404; malformed id 4xx", run=run)
