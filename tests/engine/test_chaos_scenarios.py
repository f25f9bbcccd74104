"""The Chaos API's scenarios: found, and on a target without the Chaos API reported "not run: needs chaos API".
They run, and must pass, with every scenario in ``tests/scenarios`` on the embedded target."""

from __future__ import annotations

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from scenarios._runner import NOT_RUN, discover, run_one

CHAOS = sorted(name for name, scenario in discover().items() if "chaos API" in scenario.needs)


def test_the_chaos_scenarios_are_found() -> None:
    assert CHAOS == ["chaos_bus_put_events", "chaos_dynamodb_throttle", "chaos_lambda_throttle",
                     "chaos_on_failure_publish"]


@pytest.mark.parametrize("name", CHAOS)
def test_a_chaos_scenario_is_not_run_on_localstack(name: str, deployment: Deployment) -> None:
    elsewhere = Deployment(target="localstack", outputs=deployment.outputs, endpoint_url=deployment.endpoint_url,
                           region=deployment.region)
    outcome = run_one(discover()[name], elsewhere, JobsApi.for_deployment(deployment))
    assert outcome.status == NOT_RUN and "needs chaos API" in outcome.detail
