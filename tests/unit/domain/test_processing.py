from __future__ import annotations

import pytest

from handlers.domain.faults import FaultClock, InjectedFault
from handlers.domain.job import Job
from handlers.domain.locking import RetryPolicy, StatusWriter
from handlers.domain.processing import ProcessOutcome, Skipped, already_settled, process_job, skip_reason
from handlers.domain.run import JobTooLong
from tests.unit.fakes import DictPlanSource, MemoryJobStore, RecordingClock

POLICY = RetryPolicy(attempts=3, base_delay=0.0)


@pytest.fixture
def store() -> MemoryJobStore:
    store = MemoryJobStore()
    store.add("j", 4)
    return store


def writer(store: MemoryJobStore) -> StatusWriter:
    return StatusWriter(store, "consumer_1", POLICY)


def test_running_then_success(store: MemoryJobStore, clock: RecordingClock, fault_clock: FaultClock) -> None:
    outcome = process_job(
        Job(id="j", seconds=4), writer(store), timeout=300, plans=None, clock=fault_clock, bumper=store
    )
    assert [w[2] for w in store.writes] == [
        {"status": "Running"},
        {"status": "Success", "results": "I slept for 4 seconds"},
    ]
    assert isinstance(outcome, ProcessOutcome)
    assert (outcome.results, outcome.version) == ("I slept for 4 seconds", 2)
    assert clock.sleeps == [4]


def test_too_long_job_stays_running(store: MemoryJobStore, clock: RecordingClock, fault_clock: FaultClock) -> None:
    with pytest.raises(JobTooLong):
        process_job(Job(id="j", seconds=301), writer(store), timeout=300, plans=None, clock=fault_clock, bumper=store)
    assert [w[2] for w in store.writes] == [{"status": "Running"}]
    assert clock.sleeps == []


def test_processor_faults_of_the_plan_apply_after_running(
    store: MemoryJobStore, clock: RecordingClock, fault_clock: FaultClock
) -> None:
    plans = DictPlanSource(
        {
            "slow-then-boom": '{"faults": [{"where": "processor", "kind": "delay", "seconds": 3},'
            ' {"where": "processor", "kind": "raise"}]}'
        }
    )
    job = Job(id="j", seconds=4, fault="slow-then-boom")
    with pytest.raises(InjectedFault):
        process_job(job, writer(store), timeout=300, plans=plans, clock=fault_clock, bumper=store)
    assert [w[2] for w in store.writes] == [{"status": "Running"}]
    assert clock.sleeps == [3.0]


def test_error_handler_faults_do_not_touch_the_processor(
    store: MemoryJobStore, clock: RecordingClock, fault_clock: FaultClock
) -> None:
    plans = DictPlanSource({"eh": '{"faults": [{"where": "error_handler", "kind": "raise"}]}'})
    outcome = process_job(
        Job(id="j", seconds=4, fault="eh"), writer(store), timeout=300, plans=plans, clock=fault_clock, bumper=store
    )
    assert isinstance(outcome, ProcessOutcome) and outcome.version == 2


def test_skip_reason_only_for_a_status_of_this_consumer() -> None:
    restored = Job(id="j", seconds=1, job_status={"consumer_1": {"status": "Success"}})
    reason = skip_reason(restored, "consumer_1")
    assert reason is not None and "restored" in reason and "'Success'" in reason
    assert skip_reason(restored, "consumer_2") is None
    assert skip_reason(Job(id="j", seconds=1), "consumer_1") is None


def test_the_item_as_the_caller_knows_it_starts_the_running_write(
    store: MemoryJobStore, fault_clock: FaultClock
) -> None:
    store.add("j", 1)
    image = store.get_item("j")  # as the stream record's NewImage hands it over
    process_job(Job(id="j", seconds=1), writer(store), timeout=300, plans=None, clock=fault_clock, bumper=store,
                current=image)
    assert store.reads == 2  # the image's, then the Success write's: the Running write read nothing
    assert already_settled(store.get_item("j"), Job(id="j", seconds=1), "consumer_1") is not None


def test_a_duplicate_of_a_settled_delivery_is_skipped_on_the_item_its_conflict_returns(
    fault_clock: FaultClock,
) -> None:
    store = MemoryJobStore(returns_item_on_conflict=True)
    store.add("j", 1)
    image = store.get_item("j")
    job = Job(id="j", seconds=1)
    first = process_job(job, writer(store), timeout=300, plans=None, clock=fault_clock, bumper=store, current=image)
    assert isinstance(first, ProcessOutcome)
    writes = list(store.writes)

    again = process_job(job, writer(store), timeout=300, plans=None, clock=fault_clock, bumper=store, current=image)

    assert isinstance(again, Skipped) and "already ended 'Success'" in again.reason
    assert store.writes == writes  # nothing written, nothing run
