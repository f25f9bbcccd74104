"""9. ``AWS_IAM`` on both methods: unsigned, tampered and expired requests are refused with 403.

LocalStack's free engine does not enforce ``AWS_IAM`` on API Gateway (no signature or policy check): there
the scenario checks that difference — the same requests are answered as if signed.
Source: LocalStack's coverage notes for API Gateway IAM authorization (a Pro feature).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scenarios._context import ScenarioContext
from scenarios._model import Difference, Scenario, expect

NOT_FOUND = "jobkit-auth-probe-unknown"


def run(ctx: ScenarioContext) -> None:
    path = f"jobs/{NOT_FOUND}"
    attempts = {
        "unsigned": ctx.api.request("GET", path, sign=False),
        "tampered": ctx.api.request("GET", path, tamper=True),
        "expired": ctx.api.request("GET", path, signed_at=datetime.now(UTC) - timedelta(minutes=20)),
    }
    if ctx.difference is not None:
        for label, answer in attempts.items():
            expect(answer.status == 404, f"{label}: answered as if signed (known difference: "
                   f"{ctx.difference.reason})", (answer.status, answer.text[:200]))
        return
    expected = {"unsigned": "Missing Authentication Token", "tampered": "signature", "expired": "expired"}
    for label, answer in attempts.items():
        expect(answer.status == 403, f"{label}: 403", (answer.status, answer.text[:200]))
        expect(expected[label].lower() in (answer.message or "").lower(),
               f"{label}: a message mentioning {expected[label]!r}", answer.text[:300])
    signed = ctx.api.request("GET", path)
    expect(signed.status == 404, "the signed request answered (404 for the unknown id)", signed.status)


scenario = Scenario(
    name="auth", title="Unsigned, tampered and expired requests: 403", run=run,
    differences={"localstack": Difference(
        reason="LocalStack's free engine does not enforce AWS_IAM on API Gateway",
        source="https://docs.localstack.cloud/references/coverage/coverage_apigateway/",
    )},
)
