"""The trace of each job through the session engine (``jobkit.engine.core.trace``): a job's whole path recorded in
order with the right services (success; a failure through the error handler to the bus and archive; a replay),
the recent jobs with their statuses, and the endpoints' refusals."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
import requests

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine

BOTH = ("consumer_1", "consumer_2")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# --- the endpoints --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(deployment: Deployment) -> JobsApi:
    return JobsApi.for_deployment(deployment)


def _get(engine: EmbeddedEngine, path: str, method: str = "GET") -> requests.Response:
    return requests.request(method, f"{engine.url}{path}", timeout=10)


def _trace(engine: EmbeddedEngine, job_id: str) -> list[dict[str, Any]]:
    answer = _get(engine, f"/_jobkit/jobs/{job_id}/trace")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["jobId"] == job_id
    return list(body["hops"])


def _hops(engine: EmbeddedEngine, job_id: str, until: Any, describe: str) -> list[dict[str, Any]]:
    return wait_for(lambda: _trace(engine, job_id), until, timeout=30, describe=describe)


@pytest.mark.parametrize(("path", "method", "status"), [
    ("/_jobkit/jobs/abc/trace", "POST", 405),
    ("/_jobkit/jobs/abc/trace", "DELETE", 405),
    ("/_jobkit/jobs", "PUT", 405),
    ("/_jobkit/jobs/no-such-job/trace", "GET", 404),
    ("/_jobkit/jobs/abc", "GET", 404),
    ("/_jobkit/jobs/abc/trace/more", "GET", 404),
    ("/_jobkit/jobs/a%20b/trace", "GET", 400),
    ("/_jobkit/jobs/a%1bb/trace", "GET", 400),
    (f"/_jobkit/jobs/{'a' * 129}/trace", "GET", 400),
    ("/_jobkit/jobs//trace", "GET", 400),
    ("/_jobkit/jobs/abc/trace?x=1", "GET", 400),
    ("/_jobkit/jobs?limit=0", "GET", 400),
    ("/_jobkit/jobs?limit=501", "GET", 400),
    ("/_jobkit/jobs?limit=ten", "GET", 400),
    ("/_jobkit/jobs?limit=1&limit=2", "GET", 400),
    ("/_jobkit/jobs?before=a%20b", "GET", 400),
    ("/_jobkit/jobs?before=never-seen", "GET", 400),
    ("/_jobkit/jobs?offset=3", "GET", 400),
])
def test_the_endpoints_refuse_bad_input_with_a_json_message(engine: EmbeddedEngine, path: str, method: str,
                                                            status: int) -> None:
    answer = _get(engine, path, method)
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["message"], str) and answer.json()["message"]
    if status == 405:
        assert answer.headers["Allow"] == "GET"


def test_a_job_that_succeeds_is_traced_in_order(engine: EmbeddedEngine, api: JobsApi) -> None:
    job_id = api.submit(1)
    api.wait_for_statuses(job_id, dict.fromkeys(BOTH, "Success"), timeout=30)
    hops = _hops(engine, job_id, lambda hops: sum(h["hop"] == "consumer invoked" for h in hops) == 2
                 and sum(h["hop"] == "item updated" for h in hops) == 4, "both consumers' invocations and writes")
    assert [(h["service"], h["hop"]) for h in hops[:3]] == [
        ("apigateway", "request"), ("dynamodb", "item written"), ("dynamodb", "stream record")]
    assert hops[0]["status"] == 200 and hops[0]["detail"].startswith("POST ")
    assert hops[1]["item"]["id"] == {"S": job_id}
    assert re.fullmatch(r"INSERT \d+", hops[2]["detail"]) and hops[2]["sequence_number"] in hops[2]["detail"]
    times = [h["at"] for h in hops]
    assert all(ISO_MS.fullmatch(t) for t in times) and times == sorted(times)
    invoked = [h for h in hops if h["hop"] == "consumer invoked"]
    assert {h["function"] for h in invoked} == {engine.outputs[f"Consumer{n}FunctionName"] for n in (1, 2)}
    for hop in invoked:
        assert hop["service"] == "lambda" and hop["outcome"] == "ok" and hop["attempt"] == 1
        assert hop["duration_ms"] > 0 and "REPORT RequestId" in hop["logs"]
    last = [h for h in hops if h["hop"] == "item updated"][-1]
    assert last["detail"] == "MODIFY version 4"
    statuses = {c: s["M"]["status"]["S"] for c, s in last["item"]["job_status"]["M"].items()}
    assert statuses == dict.fromkeys(BOTH, "Success")


def test_the_jobs_list_is_newest_first_with_each_consumers_status(engine: EmbeddedEngine, api: JobsApi) -> None:
    first, second = api.submit(1), api.submit(1)
    for job in (first, second):
        api.wait_for_statuses(job, dict.fromkeys(BOTH, "Success"), timeout=30)
    answer = _get(engine, "/_jobkit/jobs?limit=1")
    assert answer.status_code == 200, answer.text
    page = answer.json()
    [newest] = page["jobs"]
    assert page["consumers"] == list(BOTH)  # the stack's consumers, whatever statuses a job carries
    assert newest["jobId"] == second and newest["consumers"] == dict.fromkeys(BOTH, "Success")
    assert ISO_MS.fullmatch(newest["at"]) and newest["hops"] >= 5
    following = _get(engine, f"/_jobkit/jobs?limit=1&before={page['next']}").json()
    assert [j["jobId"] for j in following["jobs"]] == [first]


def test_a_failure_through_the_error_handler_to_the_bus_and_a_replay_are_traced(
        engine: EmbeddedEngine, api: JobsApi, deployment: Deployment) -> None:
    ssm, events = deployment.client("ssm"), deployment.client("events")
    plan = f"trace-eh-{uuid.uuid4().hex[:6]}"
    name = deployment["FaultPlanPrefix"] + plan
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value=json.dumps(
        {"faults": [{"where": "processor", "kind": "raise", "consumers": ["consumer_1"]},
                    {"where": "error_handler", "kind": "raise", "consumers": ["consumer_1"]}]}))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    try:
        job_id = api.submit(1, fault=plan)
        hops = _hops(engine, job_id, lambda hops: any(h["hop"] == "archive" for h in hops)
                     and any(h["hop"] == "rule -> logs" for h in hops), "the failure in the archive")
    finally:
        ssm.delete_parameter(Name=name)
    seen = [(h["service"], h["hop"]) for h in hops]
    path = [("apigateway", "request"), ("dynamodb", "item written"), ("dynamodb", "stream record"),
            ("lambda", "consumer invoked"), ("lambda", "mapping discard"), ("lambda", "on-failure record"),
            ("sns", "SNS publish"), ("sns", "SNS -> error handler"), ("lambda", "error handler invoked"),
            ("events", "bus"), ("events", "archive")]
    assert _in_order(path, seen), seen
    failed = next(h for h in hops if h["hop"] == "consumer invoked" and h["outcome"] == "error")
    assert failed["function"] == engine.outputs["Consumer1FunctionName"]
    assert failed["error"]["type"] == "InjectedFault" and failed["error"]["message"]
    assert "InjectedFault" in failed["logs"]
    discard = next(h for h in hops if h["hop"] == "mapping discard")
    assert discard["detail"].startswith("RetryAttemptsExhausted")
    handler = next(h for h in hops if h["hop"] == "error handler invoked")
    assert handler["outcome"] == "error" and handler["function"] == engine.outputs["ErrorHandler1FunctionName"]

    archive_arn = events.describe_archive(ArchiveName=deployment["FailedJobsEventArchiveName"])["ArchiveArn"]
    replay = f"trace-{uuid.uuid4().hex[:6]}"
    events.start_replay(ReplayName=replay, EventSourceArn=archive_arn, EventStartTime=before,
                        EventEndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
                        Destination={"Arn": events.describe_event_bus(
                            Name=deployment["FailedJobsEventBusName"])["Arn"]})
    api.wait_for_statuses(job_id, {"consumer_1": "Failure"}, timeout=30)
    hops = _hops(engine, job_id, lambda hops: _redriven(hops, replay), "the replayed failure's error handler")
    replayed = [h for h in hops if h.get("replay") == replay]
    assert [h["hop"] for h in replayed][:2] == ["replay", "rule -> lambda"], replayed
    assert all(h["service"] == "events" for h in replayed)


def _redriven(hops: list[dict[str, Any]], replay: str) -> bool:
    """Whether the replay's event is in the trace and an error handler succeeded after it."""
    start = next((n for n, h in enumerate(hops) if h.get("replay") == replay), None)
    return start is not None and any(h["hop"] == "error handler invoked" and h["outcome"] == "ok"
                                     for h in hops[start:])


def _in_order(expected: list[tuple[str, str]], seen: list[tuple[str, str]]) -> bool:
    """Whether ``expected`` appears in ``seen`` in that order (other hops may come between)."""
    remaining = iter(seen)
    return all(step in remaining for step in expected)


# --- ``jobkit trace`` and the trace built from AWS APIs, against this engine -------------------------------------
def test_jobkit_trace_prints_the_engines_timeline_and_json(engine: EmbeddedEngine, api: JobsApi,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from jobkit.cli import main

    job_id = api.submit(1)
    _hops(engine, job_id, lambda hops: sum(h["hop"] == "consumer invoked" for h in hops) == 2, "both invocations")
    main(["trace", job_id, "--outputs", str(engine.outputs_file), "--json"])  # type: ignore[attr-defined]
    document = json.loads(capsys.readouterr().out)
    assert document["jobId"] == job_id and document["hops"][0]["hop"] == "request"
    main(["trace", job_id, "--outputs", str(engine.outputs_file)])  # type: ignore[attr-defined]
    printed = capsys.readouterr().out
    assert f"job {job_id}" in printed and "consumer invoked" in printed and "apigateway" in printed
    assert re.search(r"\+\d+", printed)


def test_jobkit_trace_of_an_unknown_job_is_one_line(engine: EmbeddedEngine,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from jobkit.cli import main

    with pytest.raises(SystemExit) as ended:
        main(["trace", "no-such-job", "--outputs", str(engine.outputs_file)])  # type: ignore[attr-defined]
    assert ended.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "no trace of job no-such-job" in lines[0]


def test_the_trace_built_from_aws_apis_shows_the_records_logs_failures_and_item(
        engine: EmbeddedEngine, api: JobsApi, deployment: Deployment) -> None:
    """What ``jobkit trace`` shows on LocalStack, read here from this engine's own AWS APIs (the same calls)."""
    from jobkit.targets.localstack.trace import job_trace

    ssm = deployment.client("ssm")
    plan = f"trace-ls-{uuid.uuid4().hex[:6]}"
    name = deployment["FaultPlanPrefix"] + plan
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value=json.dumps(
        {"faults": [{"where": "processor", "kind": "raise", "consumers": ["consumer_1"]},
                    {"where": "error_handler", "kind": "raise", "consumers": ["consumer_1"]}]}))
    try:
        job_id = api.submit(1, fault=plan)
        built = wait_for(lambda: job_trace(deployment, job_id),
                         lambda t: any(h["hop"] == "failed event captured" for h in t["hops"])
                         and any(h["hop"] == "consumer log" for h in t["hops"])
                         and any(h["hop"] == "error handler log" for h in t["hops"]),
                         timeout=30, describe="the job's records, log lines and captured failure")
    finally:
        ssm.delete_parameter(Name=name)
    hops = built["hops"]
    assert built["jobId"] == job_id
    assert hops[0]["hop"] == "item written" and hops[0]["sequence_number"]
    assert hops[-1]["hop"] == "item now" and hops[-1]["service"] == "dynamodb"
    assert {h["service"] for h in hops} == {"dynamodb", "lambda", "events"}
    assert [h["at"] for h in hops[:-1]] == sorted(h["at"] for h in hops[:-1])
    assert all(ISO_MS.fullmatch(h["at"]) for h in hops)
    captured = next(h for h in hops if h["hop"] == "failed event captured")
    assert engine.outputs["ErrorHandler1FunctionName"] in captured["detail"]


# --- the pytest plugin: a failing test's report shows its jobs' traces -----------------------------------------
def test_a_failing_tests_report_shows_the_trace_of_each_job_it_submitted(engine: EmbeddedEngine,
                                                                         pytester: pytest.Pytester) -> None:
    """Here rather than in ``tests/test_pytest_plugin.py``: the plugin reuses this session's engine (port 0)
    through its outputs file; a second engine in one process cannot deploy (moto's state is per process)."""
    pytester.makepyfile(test_uses_the_plugin='''
        def test_fails_after_a_job(jobs_api, wait_for):
            job_id = jobs_api.submit(1)
            print("submitted", job_id)
            statuses = jobs_api.wait_for_statuses(job_id, {"consumer_1": "Success", "consumer_2": "Success"})
            assert statuses == {}, "fails on purpose"

        def test_passes_with_a_job(jobs_api):
            jobs_api.submit(1)
    ''')
    result = pytester.runpytest_inprocess("--target", "embedded", "--jobkit-outputs", str(engine.outputs_file),
                                          "-p", "no:cacheprovider", "-rA")  # type: ignore[attr-defined]
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    job_id = re.search(r"submitted (\S+)", text).group(1)  # type: ignore[union-attr]
    assert f"jobkit trace of job {job_id}" in text
    section = text.split(f"jobkit trace of job {job_id}", 1)[1]
    for hop in ("apigateway", "request", "item written", "stream record", "consumer invoked"):
        assert hop in section, section
    assert "REPORT RequestId" in section
    assert text.count("jobkit trace of job") == 1  # the passing test's job is not shown
