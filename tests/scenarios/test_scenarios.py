"""Every scenario of scenarios/, through the pytest plugin: ``pytest tests/scenarios --target localstack``."""

from __future__ import annotations

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from scenarios._runner import DIFFERENCE, FAILED, NOT_RUN, discover, run_one

SCENARIOS = discover()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str, jobkit_deployment: Deployment, jobs_api: JobsApi,
                  record_property: pytest.RecordProperty) -> None:
    outcome = run_one(SCENARIOS[name], jobkit_deployment, jobs_api)
    record_property("outcome", outcome.status)
    record_property("jobs", ",".join(outcome.job_ids))
    if outcome.status == NOT_RUN:
        pytest.skip(outcome.detail)
    if outcome.status == FAILED:
        pytest.fail(outcome.detail, pytrace=False)
    assert outcome.status == DIFFERENCE or not outcome.detail, outcome.detail


def test_user_tests_get_a_signed_client_and_fault_plans(jobs_api: JobsApi, fault_plan: object,
                                                        jobkit_deployment: Deployment) -> None:
    """What the README shows a user writing with the plugin."""
    plan = fault_plan.put("raise", {"where": "processor", "kind": "raise"})  # type: ignore[attr-defined]
    job = jobs_api.submit(1, fault=plan)
    seen = jobs_api.wait_for_statuses(job, dict.fromkeys(jobkit_deployment.consumer_ids(), "Failure"))
    assert all(s["seconds"] == 1 for s in seen.values())
