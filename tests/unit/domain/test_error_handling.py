from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from handlers.domain.error_handling import (
    FailedBatch,
    InvalidFailureRecord,
    StreamRecordUnavailable,
    error_text,
    handle_failure,
    parse_fallback_job,
    parse_on_failure_record,
)
from handlers.domain.faults import FaultClock, InjectedFault
from handlers.domain.job import InvalidJob, Job
from handlers.domain.locking import RetryPolicy, StatusWriter
from tests.unit.builders import load_event
from tests.unit.fakes import DictPlanSource, MemoryJobStore


class FakeReader:
    def __init__(self, image: Mapping[str, Any] | None) -> None:
        self.image = image
        self.calls: list[tuple[str, str, str]] = []

    def read_new_image(self, stream_arn: str, shard_id: str, sequence_number: str) -> Mapping[str, Any]:
        self.calls.append((stream_arn, shard_id, sequence_number))
        if self.image is None:
            raise StreamRecordUnavailable("trimmed")
        return self.image


def test_parses_the_documented_on_failure_record() -> None:
    failed = parse_on_failure_record(load_event("dynamodb_on_failure_record.json"))
    assert failed == FailedBatch(
        stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/jobkit-unit-jobs/stream/2023-11-14T22:13:20.000",
        shard_id="shardId-00000001573689847184-864758bb",
        start_sequence_number="800000000003126276362",
        condition="RetryAttemptsExhausted",
        function_error="Unhandled",
        approximate_invoke_count=3,
        batch_size=1,
    )


def test_a_record_without_batch_info_is_refused() -> None:
    with pytest.raises(InvalidFailureRecord, match="no DDBStreamBatchInfo"):
        parse_on_failure_record({"requestContext": {}})
    record = load_event("dynamodb_on_failure_record.json")
    del record["DDBStreamBatchInfo"]["shardId"]
    with pytest.raises(InvalidFailureRecord, match=r"DDBStreamBatchInfo\.shardId"):
        parse_on_failure_record(record)


@pytest.mark.parametrize(
    ("condition", "function_error", "count", "expected"),
    [
        (
            "RetryAttemptsExhausted",
            "Unhandled",
            3,
            "RetryAttemptsExhausted (function error: Unhandled, invocations: 3)",
        ),
        ("RecordAgeExceeded", None, None, "RecordAgeExceeded"),
        (None, "Unhandled", None, "(function error: Unhandled)"),
        (None, None, 2, None),
    ],
)
def test_error_text(condition: str | None, function_error: str | None, count: int | None, expected: str | None) -> None:
    failed = FailedBatch("arn", "shard", "1", condition, function_error, count)
    assert error_text(failed) == expected


def test_fallback_job_shape() -> None:
    assert parse_fallback_job({"id": "j", "seconds": 3}) == Job(id="j", seconds=3)
    with pytest.raises(InvalidJob):
        parse_fallback_job({"id": "j"})
    with pytest.raises(InvalidFailureRecord):
        parse_fallback_job("j")


FAILED = FailedBatch("arn", "shard-1", "42", "RetryAttemptsExhausted", "Unhandled", 3)


def run(
    reader: FakeReader,
    store: MemoryJobStore,
    fault_clock: FaultClock,
    *,
    fallback: Job | None = None,
    plans: DictPlanSource | None = None,
) -> Any:
    return handle_failure(
        FAILED,
        reader=reader,
        writer=StatusWriter(store, "consumer_1", RetryPolicy(attempts=3, base_delay=0.0)),
        plans=plans,
        clock=fault_clock,
        bumper=store,
        fallback=fallback,
    )


def test_writes_failure_for_the_record_read_back(fault_clock: FaultClock) -> None:
    store = MemoryJobStore()
    store.add("j", 7)
    reader = FakeReader({"id": "j", "seconds": 7, "version": 0, "job_status": {}})
    outcome = run(reader, store, fault_clock)
    assert reader.calls == [("arn", "shard-1", "42")]
    assert store.items["j"]["job_status"]["consumer_1"] == {
        "status": "Failure",
        "seconds": 7,
        "error": "RetryAttemptsExhausted (function error: Unhandled, invocations: 3)",
    }
    assert outcome.version == 1


def test_falls_back_to_the_exported_job(fault_clock: FaultClock) -> None:
    store = MemoryJobStore()
    store.add("j", 9)
    run(FakeReader(None), store, fault_clock, fallback=Job(id="j", seconds=9))
    assert store.items["j"]["job_status"]["consumer_1"]["seconds"] == 9


def test_unreadable_record_without_fallback_raises(fault_clock: FaultClock) -> None:
    store = MemoryJobStore()
    store.add("j", 9)
    with pytest.raises(StreamRecordUnavailable):
        run(FakeReader(None), store, fault_clock)
    assert store.writes == []


def test_error_handler_fault_raises_before_writing(fault_clock: FaultClock) -> None:
    store = MemoryJobStore()
    store.add("j", 1)
    plans = DictPlanSource({"eh": '{"faults": [{"where": "error_handler", "kind": "raise"}]}'})
    reader = FakeReader({"id": "j", "seconds": 1, "fault": "eh"})
    with pytest.raises(InjectedFault, match="raises in error_handler"):
        run(reader, store, fault_clock, plans=plans)
    assert store.writes == []
