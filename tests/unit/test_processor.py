"""handlers.processor.handler against moto, with events built from the table's real stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from handlers import processor
from handlers.adapters.dynamodb import DynamoJobStore
from handlers.domain.faults import TIMEOUT_MARGIN_SECONDS, InjectedFault
from handlers.domain.job import InvalidJob
from handlers.domain.locking import JobNotFound, LockExhausted
from handlers.domain.run import JobTooLong
from handlers.settings import SettingsError
from tests.unit.builders import load_event, sample_stream_event, stream_event
from tests.unit.conftest import FakeLambdaContext, FaultPlans, JobsTable

Logs = Callable[[], list[dict[str, Any]]]


def insert_event(jobs_table: JobsTable, job_id: str, seconds: int, **job: Any) -> dict[str, Any]:
    """Insert a job and return the stream event the event source mapping would deliver for it."""
    record = jobs_table.put_job(job_id, seconds, **job)
    return stream_event([record], jobs_table.stream_arn)


def test_running_then_success(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "1000")  # 2 s of job time = 2 ms of test time
    event = insert_event(jobs_table, "job-1", 2)

    processor.handler(event, lambda_context)

    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 2 seconds"}
    assert jobs_table.version("job-1") == 2
    assert jobs_table.stream_statuses("job-1") == [None, "Running", "Success"]


def test_a_duplicate_delivery_after_the_job_ended_is_skipped(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "1000")
    event = insert_event(jobs_table, "job-1", 2)
    processor.handler(event, lambda_context)
    processor.handler(event, lambda_context)  # the same record again (at-least-once delivery)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 2 seconds"}
    assert jobs_table.version("job-1") == 2
    assert jobs_table.stream_statuses("job-1") == [None, "Running", "Success"]


def test_the_job_sleeps_its_seconds_divided_by_the_time_scale(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "4")
    processor.handler(insert_event(jobs_table, "job-1", 8), lambda_context)
    assert sleeps == [2.0]
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 8 seconds"}


def test_the_running_write_starts_from_the_record_and_a_duplicate_is_refused_without_a_read(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the record's NewImage is the item as inserted: the Running write is conditional on its version, so it
    # needs no read; only the Success write (after the job ran) reads. A duplicate's Running write conflicts
    # and the item the conflict returns (ReturnValuesOnConditionCheckFailure) shows the job ended.
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "1000")
    reads: list[str] = []
    original = DynamoJobStore.get_item

    def get_item(self: DynamoJobStore, job_id: str) -> dict[str, Any] | None:
        reads.append(job_id)
        return original(self, job_id)

    monkeypatch.setattr(DynamoJobStore, "get_item", get_item)
    event = insert_event(jobs_table, "job-1", 2)
    processor.handler(event, lambda_context)
    assert reads == ["job-1"]
    processor.handler(event, lambda_context)
    assert reads == ["job-1"]
    assert jobs_table.version("job-1") == 2
    assert jobs_table.stream_statuses("job-1") == [None, "Running", "Success"]


def test_a_job_longer_than_timeout_is_refused_and_stays_running(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    event = insert_event(jobs_table, "job-1", 301)

    with pytest.raises(JobTooLong, match="301 seconds, longer than TIMEOUT=300"):
        processor.handler(event, lambda_context)

    assert jobs_table.status("job-1") == {"status": "Running"}
    assert jobs_table.version("job-1") == 1
    assert jobs_table.stream_statuses("job-1") == [None, "Running"]  # nothing else written
    assert sleeps == []


def test_a_restored_record_is_skipped_and_the_reason_logged(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, handler_logs: Logs, sleeps: list[float]
) -> None:
    done = {"status": "Success", "results": "I slept for 1 seconds"}
    event = insert_event(jobs_table, "job-1", 1, job_status={"consumer_1": done}, version=2)

    processor.handler(event, lambda_context)

    assert jobs_table.status("job-1") == done
    assert jobs_table.version("job-1") == 2
    assert len(jobs_table.stream_records()) == 1
    assert sleeps == []
    skips = [line for line in handler_logs() if line["message"] == "skipping record"]
    assert len(skips) == 1
    assert skips[0]["job_id"] == "job-1" and "restored (re-drive from file)" in skips[0]["reason"]


def test_a_status_of_another_consumer_does_not_skip(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    other = {"consumer_2": {"status": "Running"}}
    processor.handler(insert_event(jobs_table, "job-1", 1, job_status=other), lambda_context)
    item = jobs_table.item("job-1")
    assert item["job_status"]["consumer_1"]["status"] == "Success"
    assert item["job_status"]["consumer_2"] == {"status": "Running"}


def test_status_writes_of_the_stream_are_not_jobs(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    insert = jobs_table.put_job("job-1", 1)
    processor.handler(stream_event([insert], jobs_table.stream_arn), lambda_context)
    modify_records = jobs_table.stream_records()[1:]
    assert [r["eventName"] for r in modify_records] == ["MODIFY", "MODIFY"]

    processor.handler(stream_event(modify_records, jobs_table.stream_arn), lambda_context)

    assert jobs_table.version("job-1") == 2
    assert sleeps == [1]


def test_every_record_of_a_batch_is_processed(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    records = [jobs_table.put_job("job-1", 1), jobs_table.put_job("job-2", 2)]
    processor.handler(stream_event(records, jobs_table.stream_arn), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 1 seconds"}
    assert jobs_table.status("job-2") == {"status": "Success", "results": "I slept for 2 seconds"}


def test_the_documented_sample_event_is_accepted(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    jobs_table.put_job("9f6c1d2e-8a47-4f0b-9a0e-2d3c4b5a6f70", 1)
    processor.handler(load_event("dynamodb_stream_event.json"), lambda_context)
    assert jobs_table.status("9f6c1d2e-8a47-4f0b-9a0e-2d3c4b5a6f70", "consumer_1") == {
        "status": "Success",
        "results": "I slept for 1 seconds",
    }


def test_a_job_missing_from_the_table_raises(jobs_table: JobsTable, lambda_context: FakeLambdaContext) -> None:
    event = sample_stream_event({"id": {"S": "ghost"}, "seconds": {"N": "1"}, "version": {"N": "0"}})
    with pytest.raises(JobNotFound, match="'ghost'"):
        processor.handler(event, lambda_context)


def test_a_record_without_new_image_raises(jobs_table: JobsTable, lambda_context: FakeLambdaContext) -> None:
    event = sample_stream_event({"id": {"S": "j"}, "seconds": {"N": "1"}})
    del event["Records"][0]["dynamodb"]["NewImage"]
    with pytest.raises(InvalidJob, match="no NewImage"):
        processor.handler(event, lambda_context)


def test_a_missing_variable_fails_the_invocation_by_name(
    jobs_table: JobsTable, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSUMER_ID")
    with pytest.raises(SettingsError, match="CONSUMER_ID"):
        processor.handler(insert_event(jobs_table, "job-1", 1), lambda_context)


# Fault plans -------------------------------------------------------------------------------------


def test_raise_fault_fails_after_running(
    jobs_table: JobsTable, fault_plans: FaultPlans, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    fault_plans.put("boom", {"where": "processor", "kind": "raise"})
    with pytest.raises(InjectedFault, match="plan 'boom'"):
        processor.handler(insert_event(jobs_table, "job-1", 1, fault="boom"), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Running"}


def test_timeout_fault_sleeps_past_the_remaining_time(
    jobs_table: JobsTable, fault_plans: FaultPlans, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "60")  # the timeout sleep is wall-clock, never scaled
    fault_plans.put("hang", {"where": "processor", "kind": "timeout", "consumers": ["consumer_1"]})
    with pytest.raises(InjectedFault, match="injected timeout"):
        processor.handler(insert_event(jobs_table, "job-1", 1, fault="hang"), FakeLambdaContext(remaining_millis=2500))
    assert sleeps == [2.5 + TIMEOUT_MARGIN_SECONDS]
    assert jobs_table.status("job-1") == {"status": "Running"}


def test_faults_for_another_consumer_are_ignored(
    jobs_table: JobsTable, fault_plans: FaultPlans, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    fault_plans.put("c2-only", {"where": "processor", "kind": "raise", "consumers": ["consumer_2"]})
    processor.handler(insert_event(jobs_table, "job-1", 1, fault="c2-only"), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 1 seconds"}


def test_delay_fault_is_scaled_like_the_job(
    jobs_table: JobsTable,
    fault_plans: FaultPlans,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    monkeypatch.setenv("JOBKIT_TIME_SCALE", "2")
    fault_plans.put("slow", {"where": "processor", "kind": "delay", "seconds": 6})
    processor.handler(insert_event(jobs_table, "job-1", 4, fault="slow"), lambda_context)
    assert sleeps == [3.0, 2.0]  # the delay, then the job


def test_conflict_fault_is_retried_through(
    jobs_table: JobsTable, fault_plans: FaultPlans, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    fault_plans.put("contended", {"where": "processor", "kind": "conflict", "times": 3})
    processor.handler(insert_event(jobs_table, "job-1", 1, fault="contended"), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 1 seconds"}
    assert jobs_table.version("job-1") == 2 + 2 * 3  # two writes, each after three concurrent bumps


def test_conflict_fault_beyond_the_attempts_exhausts_the_lock(
    jobs_table: JobsTable,
    fault_plans: FaultPlans,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    monkeypatch.setenv("OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", "2")
    fault_plans.put("contended", {"where": "processor", "kind": "conflict", "times": 2})
    with pytest.raises(LockExhausted, match="after 2 attempt"):
        processor.handler(insert_event(jobs_table, "job-1", 1, fault="contended"), lambda_context)
    assert jobs_table.status("job-1") is None


def test_a_lifted_fault_is_no_fault(
    jobs_table: JobsTable, fault_plans: FaultPlans, lambda_context: FakeLambdaContext, sleeps: list[float]
) -> None:
    processor.handler(insert_event(jobs_table, "job-1", 1, fault="deleted-plan"), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 1 seconds"}


def test_without_fault_plan_prefix_plans_are_never_read(
    jobs_table: JobsTable,
    fault_plans: FaultPlans,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    fault_plans.put("boom", {"where": "processor", "kind": "raise"})
    monkeypatch.delenv("FAULT_PLAN_PREFIX")  # the stack was synthesized without fault injection
    processor.handler(insert_event(jobs_table, "job-1", 1, fault="boom"), lambda_context)
    assert jobs_table.status("job-1") == {"status": "Success", "results": "I slept for 1 seconds"}
