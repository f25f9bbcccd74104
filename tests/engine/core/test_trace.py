"""Each job's hops kept by the engine (``jobkit.engine.core.trace``): the store, its bound and the setting. The
endpoints and a job's whole path through the session engine are in ``tests/engine/test_job_traces.py`` (the
session engine starts after ``tests/engine/moto``, whose ``mock_aws`` resets moto's state on exit)."""

from __future__ import annotations

import json
import re

import pytest

from jobkit.engine.core.front_door import SettingError
from jobkit.engine.core.trace import MAX_HOPS_PER_JOB, JobTraces, trace_jobs_from_env

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# --- the store ------------------------------------------------------------------------------------------------
def test_the_store_keeps_the_last_n_jobs() -> None:
    traces = JobTraces(3)
    for n in range(4):
        traces.record(f"job-{n}", "apigateway", "request", "POST /jobs -> 200")
        traces.record(f"job-{n}", "dynamodb", "item written")
    assert len(traces) == 3
    assert traces.hops("job-0") is None
    assert [h["hop"] for h in traces.hops("job-3") or []] == ["request", "item written"]
    page, more = traces.recent(10)
    assert [job for job, _, _ in page] == ["job-3", "job-2", "job-1"] and not more


def test_a_later_hop_of_a_kept_job_does_not_make_it_newer_nor_evict_another() -> None:
    traces = JobTraces(2)
    traces.record("a", "apigateway", "request")
    traces.record("b", "apigateway", "request")
    traces.record("a", "lambda", "consumer invoked")
    assert [job for job, _, _ in traces.recent(5)[0]] == ["b", "a"]
    assert len(traces.hops("a") or []) == 2


def test_a_job_keeps_its_first_hop_and_latest_hops_past_the_cap() -> None:
    traces = JobTraces(1)
    for n in range(MAX_HOPS_PER_JOB + 5):
        traces.record("j", "lambda", "consumer invoked", attempt=n)
    hops = traces.hops("j") or []
    assert len(hops) == MAX_HOPS_PER_JOB
    assert hops[0]["attempt"] == 0 and hops[-1]["attempt"] == MAX_HOPS_PER_JOB + 4


def test_zero_keeps_no_trace_and_hops_without_a_job_are_not_kept() -> None:
    off = JobTraces(0)
    off.record("j", "apigateway", "request")
    assert len(off) == 0
    on = JobTraces(5)
    on.record("-", "events", "bus")
    assert len(on) == 0


def test_a_hop_is_shown_with_an_iso_time_and_the_error_read_from_lambdas_document() -> None:
    traces = JobTraces(1)
    document = {"errorType": "InjectedFault", "errorMessage": "boom", "stackTrace": []}
    traces.record("j", "lambda", "consumer invoked", "f error", outcome="error", error="InjectedFault",
                  error_payload=json.dumps(document).encode(), logs="START\nREPORT")
    [hop] = traces.hops("j") or []
    assert ISO_MS.fullmatch(hop["at"]), hop["at"]
    assert hop["error"] == {"type": "InjectedFault", "message": "boom"} and "error_payload" not in hop
    assert {"service", "hop", "detail", "outcome", "logs"} <= set(hop)


def test_recent_pages_with_before() -> None:
    traces = JobTraces(10)
    for n in range(5):
        traces.record(f"j{n}", "apigateway", "request")
    page, more = traces.recent(2)
    assert [j for j, _, _ in page] == ["j4", "j3"] and more
    page, more = traces.recent(2, before="j3")
    assert [j for j, _, _ in page] == ["j2", "j1"] and more
    page, more = traces.recent(2, before="j1")
    assert [j for j, _, _ in page] == ["j0"] and not more
    with pytest.raises(KeyError):
        traces.recent(2, before="gone")


@pytest.mark.parametrize("value", ["ten", "-1", "1.5", "1e3", "2000000", "\uff11\uff10"])
def test_a_bad_trace_jobs_setting_is_refused_naming_it(value: str) -> None:
    with pytest.raises(SettingError, match="JOBKIT_TRACE_JOBS"):
        trace_jobs_from_env({"JOBKIT_TRACE_JOBS": value})


def test_the_trace_jobs_setting_defaults_to_ten_thousand() -> None:
    assert trace_jobs_from_env({}) == 10_000
    assert trace_jobs_from_env({"JOBKIT_TRACE_JOBS": " 25 "}) == 25
    assert trace_jobs_from_env({"JOBKIT_TRACE_JOBS": "0"}) == 0
