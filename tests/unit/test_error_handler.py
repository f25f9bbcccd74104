"""handlers.error_handler.handler against moto: the failed record is read back from the real stream."""

from __future__ import annotations

from typing import Any

import pytest

from handlers import error_handler
from handlers.domain.error_handling import InvalidFailureRecord, StreamRecordUnavailable
from handlers.domain.faults import InjectedFault
from handlers.settings import SettingsError
from tests.unit.builders import eventbridge_failure, load_event, on_failure_record, sns_event
from tests.unit.conftest import FakeLambdaContext, FaultPlans, JobsTable

EXPECTED_ERROR = "RetryAttemptsExhausted (function error: Unhandled, invocations: 3)"


@pytest.fixture(autouse=True)
def error_handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIMEOUT")  # the stack gives TIMEOUT to the processor only


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext(function_name="jobkit-error-handler-consumer_1")


def failed_job(jobs_table: JobsTable, job_id: str, seconds: int, **job: Any) -> dict[str, Any]:
    """A job the processor picked up (Running) and failed on: the on-failure record pointing at it."""
    insert = jobs_table.put_job(job_id, seconds, **job)
    jobs_table.client.update_item(
        TableName=jobs_table.name,
        Key={"id": {"S": job_id}},
        UpdateExpression="SET job_status.consumer_1 = :s, version = :one",
        ExpressionAttributeValues={":s": {"M": {"status": {"S": "Running"}}}, ":one": {"N": "1"}},
    )
    return on_failure_record(jobs_table.stream_arn, jobs_table.shard_id, insert["dynamodb"]["SequenceNumber"])


def test_sns_input_reads_the_record_back_and_writes_failure(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    record = failed_job(jobs_table, "job-1", 301)
    jobs_table.put_job("job-2", 5)  # later records do not confuse the read-back

    error_handler.handler(sns_event(record), context)

    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 301, "error": EXPECTED_ERROR}
    assert jobs_table.version("job-1") == 2
    assert jobs_table.status("job-2") is None


def test_replayed_eventbridge_envelope_works_the_same(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    record = failed_job(jobs_table, "job-1", 42)

    error_handler.handler(eventbridge_failure(sns_event(record)), context)

    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 42, "error": EXPECTED_ERROR}


def test_exported_job_is_used_when_the_stream_record_is_gone(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    record = failed_job(jobs_table, "job-1", 42)
    record["DDBStreamBatchInfo"]["startSequenceNumber"] = "9" * 30  # trimmed after 24 h

    error_handler.handler(eventbridge_failure(sns_event(record), job={"id": "job-1", "seconds": 42}), context)

    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 42, "error": EXPECTED_ERROR}


def test_exported_job_from_another_environment(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    jobs_table.put_job("job-1", 7)
    record = on_failure_record(
        "arn:aws:dynamodb:eu-west-1:210987654321:table/prod-jobs/stream/2023-01-01T00:00:00.000",
        "shardId-00000001573689847184-864758bb",
        "800000000003126276362",
    )
    error_handler.handler(eventbridge_failure(sns_event(record), job={"id": "job-1", "seconds": 7}), context)
    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 7, "error": EXPECTED_ERROR}


def test_the_stream_wins_over_the_exported_job(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    record = failed_job(jobs_table, "job-1", 42)
    error_handler.handler(eventbridge_failure(sns_event(record), job={"id": "job-1", "seconds": 1}), context)
    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 42, "error": EXPECTED_ERROR}


def test_a_gone_record_without_exported_job_raises(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    record = failed_job(jobs_table, "job-1", 42)
    record["DDBStreamBatchInfo"]["startSequenceNumber"] = "9" * 30
    with pytest.raises(StreamRecordUnavailable):
        error_handler.handler(sns_event(record), context)
    assert jobs_table.status("job-1") == {"status": "Running"}


def test_error_is_omitted_when_the_record_does_not_say_why(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    insert = jobs_table.put_job("job-1", 3)
    record = on_failure_record(
        jobs_table.stream_arn,
        jobs_table.shard_id,
        insert["dynamodb"]["SequenceNumber"],
        condition=None,
        function_error=None,
    )
    error_handler.handler(sns_event(record), context)
    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 3}


def test_error_handler_fault_raises(jobs_table: JobsTable, fault_plans: FaultPlans, context: FakeLambdaContext) -> None:
    fault_plans.put("eh-raise", {"where": "error_handler", "kind": "raise"})
    record = failed_job(jobs_table, "job-1", 1, fault="eh-raise")
    with pytest.raises(InjectedFault, match="raises in error_handler"):
        error_handler.handler(sns_event(record), context)
    assert jobs_table.status("job-1") == {"status": "Running"}


def test_processor_faults_do_not_stop_the_error_handler(
    jobs_table: JobsTable, fault_plans: FaultPlans, context: FakeLambdaContext
) -> None:
    fault_plans.put("boom", {"where": "processor", "kind": "raise"})
    record = failed_job(jobs_table, "job-1", 1, fault="boom")
    error_handler.handler(sns_event(record), context)
    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 1, "error": EXPECTED_ERROR}


def test_conflict_fault_on_the_failure_write(
    jobs_table: JobsTable, fault_plans: FaultPlans, context: FakeLambdaContext, sleeps: list[float]
) -> None:
    fault_plans.put("contended", {"where": "error_handler", "kind": "conflict", "times": 4})
    record = failed_job(jobs_table, "job-1", 1, fault="contended")
    error_handler.handler(sns_event(record), context)
    assert jobs_table.status("job-1") == {"status": "Failure", "seconds": 1, "error": EXPECTED_ERROR}
    assert jobs_table.version("job-1") == 1 + 4 + 1


@pytest.mark.parametrize(
    "event",
    [
        {"hello": "world"},
        {"Records": []},
        {"detail-type": "Lambda Function Invocation Result - Success", "detail": {}},
        {"detail-type": "Lambda Function Invocation Result - Failure", "detail": {"requestPayload": {"x": 1}}},
    ],
)
def test_other_inputs_are_refused_clearly(
    event: dict[str, Any], jobs_table: JobsTable, context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidFailureRecord):
        error_handler.handler(event, context)


def test_an_sns_message_that_is_not_a_record_is_refused(jobs_table: JobsTable, context: FakeLambdaContext) -> None:
    event = load_event("sns_event.json")  # Message is plain text
    with pytest.raises(InvalidFailureRecord, match="not the JSON of an on-failure record"):
        error_handler.handler(event, context)


def test_needs_consumer_id(jobs_table: JobsTable, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSUMER_ID")  # an error handler deployed without it
    with pytest.raises(SettingsError, match="CONSUMER_ID is required by the error_handler"):
        error_handler.handler(sns_event(load_event("dynamodb_on_failure_record.json")), context)
