"""Every scenario of scenarios/, through the pytest plugin: ``pytest tests/scenarios --target localstack``.

The scenarios run once per session through the same runner as ``jobkit scenarios run`` (concurrently, the
replaying ones alone); each test then reports its scenario's outcome.
"""

from __future__ import annotations

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from scenarios._runner import DIFFERENCE, FAILED, NOT_RUN, PASSED, Outcome, discover, run_all

SCENARIOS = discover()


@pytest.fixture(scope="session")
def scenario_outcomes(jobkit_deployment: Deployment) -> dict[str, Outcome]:
    return {o.scenario.name: o for o in run_all(list(SCENARIOS.values()), jobkit_deployment, parallel=4)}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str, scenario_outcomes: dict[str, Outcome], record_property: pytest.RecordProperty) -> None:
    outcome = scenario_outcomes[name]
    record_property("outcome", outcome.status)
    record_property("duration", f"{outcome.duration:.1f}")
    record_property("jobs", ",".join(outcome.job_ids))
    if outcome.status == NOT_RUN:
        pytest.skip(outcome.detail)
    if outcome.status == FAILED:
        pytest.fail(outcome.detail, pytrace=False)
    assert outcome.status in {PASSED, DIFFERENCE}, outcome.status


def test_user_tests_get_a_signed_client_and_fault_plans(jobs_api: JobsApi, fault_plan: object,
                                                        jobkit_deployment: Deployment) -> None:
    """What the README shows a user writing with the plugin."""
    plan = fault_plan.put("raise", {"where": "processor", "kind": "raise"})  # type: ignore[attr-defined]
    job = jobs_api.submit(1, fault=plan)
    seen = jobs_api.wait_for_statuses(job, dict.fromkeys(jobkit_deployment.consumer_ids(), "Failure"))
    assert all(s["seconds"] == 1 for s in seen.values())


def test_the_scenarios_leave_no_chaos_fault_behind(scenario_outcomes: dict[str, Outcome],
                                                   jobkit_deployment: Deployment) -> None:
    """Each chaos scenario removes its rules when it ends, passed or failed: the next test meets a healthy engine."""
    import requests

    chaos = [o for o in scenario_outcomes.values() if "chaos API" in o.scenario.needs]
    if not chaos or any(o.status == NOT_RUN for o in chaos):
        pytest.skip(f"{jobkit_deployment.target}'s engine has no Chaos API: its chaos scenarios did not run")
    answer = requests.get(f"{jobkit_deployment.endpoint_url}/_localstack/chaos/faults", timeout=10)
    assert answer.status_code == 200 and answer.json() == []
