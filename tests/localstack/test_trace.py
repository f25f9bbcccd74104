"""``jobkit trace`` on LocalStack's own engine (``--target localstack``): no engine there records hops, so the
trace is built from what its APIs show (the stream's records, the functions' log lines, the captured failures,
the item), for a job that succeeds and for one whose failure reaches the bus."""

from __future__ import annotations

import json
import uuid

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.traces import job_trace
from jobkit.client.waiting import wait_for


@pytest.fixture
def deployment(jobkit_deployment: Deployment) -> Deployment:
    if jobkit_deployment.target != "localstack":
        pytest.skip("runs with --target localstack")
    return jobkit_deployment


@pytest.mark.timeout(600)
def test_the_trace_of_a_job_that_succeeds_on_localstack(deployment: Deployment) -> None:
    api = JobsApi.for_deployment(deployment)
    job = api.submit(1)
    api.wait_for_statuses(job, dict.fromkeys(deployment.consumer_ids(), "Success"), timeout=180)
    consumers = {deployment[f"Consumer{n}FunctionName"] for n in (1, 2)}
    built = wait_for(lambda: job_trace(deployment, job),
                     lambda t: {h.get("function") for h in t["hops"] if h["hop"] == "consumer log"} >= consumers,
                     timeout=60, describe="both consumers' log lines in the trace")
    hops = built["hops"]
    assert hops[0]["hop"] == "item written" and hops[0]["service"] == "dynamodb"
    assert any(h["hop"] == "item updated" for h in hops)
    final = hops[-1]
    assert final["hop"] == "item now"
    assert all(seen["M"]["status"]["S"] == "Success" for seen in final["item"]["job_status"]["M"].values())
    assert not any(h["hop"] == "failed event captured" for h in hops)


@pytest.mark.timeout(900)
def test_the_trace_of_a_failure_that_reaches_the_bus_on_localstack(deployment: Deployment) -> None:
    ssm = deployment.client("ssm")
    plan = f"trace-{uuid.uuid4().hex[:6]}"
    name = deployment["FaultPlanPrefix"] + plan
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value=json.dumps(
        {"faults": [{"where": "processor", "kind": "raise", "consumers": ["consumer_1"]},
                    {"where": "error_handler", "kind": "raise", "consumers": ["consumer_1"]}]}))
    try:
        job = JobsApi.for_deployment(deployment).submit(1, fault=plan)
        built = wait_for(lambda: job_trace(deployment, job),
                         lambda t: any(h["hop"] == "failed event captured" for h in t["hops"]),
                         timeout=600, describe="the job's failure captured from the bus")
    finally:
        ssm.delete_parameter(Name=name)
    hops = built["hops"]
    failed = [h for h in hops if h["hop"] == "consumer log" and "InjectedFault" in h.get("logs", "")]
    assert failed and failed[0]["function"] == deployment["Consumer1FunctionName"]
    assert any(h["hop"] == "error handler log" for h in hops)
    captured = next(h for h in hops if h["hop"] == "failed event captured")
    assert deployment["ErrorHandler1FunctionName"] in captured["detail"]
