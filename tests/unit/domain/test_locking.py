"""Optimistic locking: against an in-memory store, and against moto with real threads."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from handlers.adapters.dynamodb import DynamoJobStore
from handlers.domain.faults import Fault, conflict_hook
from handlers.domain.locking import (
    JobNotFound,
    LockExhausted,
    RetryPolicy,
    StatusWriter,
    VersionConflict,
    WriteRefused,
    write_status,
)
from tests.unit.conftest import JobsTable
from tests.unit.fakes import MemoryJobStore


class CountingStore:
    """Wraps a store to count attempts and conflicts of the conditional write."""

    def __init__(self, inner: DynamoJobStore) -> None:
        self.inner = inner
        self.attempts = 0
        self.conflicts = 0
        self._lock = threading.Lock()

    def get_item(self, job_id: str) -> Mapping[str, Any] | None:
        return self.inner.get_item(job_id)

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        with self._lock:
            self.attempts += 1
        try:
            self.inner.put_status(job_id, consumer, status, expected_version=expected_version, create_map=create_map)
        except VersionConflict:
            with self._lock:
                self.conflicts += 1
            raise

    def bump_version(self, job_id: str) -> None:
        self.inner.bump_version(job_id)


NO_WAIT = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0)


def test_write_bumps_the_version_and_keeps_other_consumers() -> None:
    store = MemoryJobStore()
    store.add("j", 1, job_status={"consumer_2": {"status": "Running"}})
    assert write_status(store, "j", "consumer_1", {"status": "Running"}, NO_WAIT) == 1
    assert store.items["j"]["version"] == 1
    assert store.items["j"]["job_status"] == {
        "consumer_1": {"status": "Running"},
        "consumer_2": {"status": "Running"},
    }


def test_lock_exhaustion_raises_after_exactly_the_configured_attempts() -> None:
    store = MemoryJobStore(always_conflict=True)
    store.add("j", 1)
    backoffs: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=0.1, max_delay=10.0)
    with pytest.raises(LockExhausted, match=r"'consumer_1' after 4 attempt\(s\)") as info:
        write_status(store, "j", "consumer_1", {"status": "Running"}, policy, sleep=backoffs.append)
    assert store.attempts == 4 and store.reads == 4
    assert isinstance(info.value.__cause__, VersionConflict)
    assert info.value.attempts == 4
    assert len(backoffs) == 3  # no pointless wait after the last attempt
    assert store.items["j"]["job_status"] == {}


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=0.5)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.0, 0.1, 0.2, 0.4, 0.5]
    assert policy.backoff(4, rand=lambda: 0.25) == pytest.approx(0.1)


def test_attempts_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="OPTIMISTIC_LOCKING_RETRY_ATTEMPTS must be >= 1"):
        RetryPolicy(attempts=0)


def test_missing_item_is_a_clear_error() -> None:
    with pytest.raises(JobNotFound, match="'gone' is not in the jobs table"):
        write_status(MemoryJobStore(), "gone", "consumer_1", {"status": "Running"}, NO_WAIT)


def test_item_without_job_status_gets_the_map_created() -> None:
    store = MemoryJobStore()
    store.items["j"] = {"id": "j", "seconds": 1, "version": 0}
    write_status(store, "j", "consumer_1", {"status": "Running"}, NO_WAIT)
    assert store.items["j"]["job_status"] == {"consumer_1": {"status": "Running"}}


def test_two_consumers_writing_concurrently_against_moto(jobs_table: JobsTable) -> None:
    jobs_table.put_job("job-1", 1)
    store = CountingStore(DynamoJobStore(jobs_table.name, jobs_table.client))
    policy = RetryPolicy(attempts=100, base_delay=0.001, max_delay=0.004)
    start_together = threading.Barrier(2)
    successes = {"consumer_1": 0, "consumer_2": 0}
    errors: list[BaseException] = []

    def first_attempt_in_step(job_id: str, attempt: int) -> None:
        # Both threads have read version 0 before either writes: at least one conflict is certain.
        if successes[threading.current_thread().name] == 0 and attempt == 1:
            start_together.wait(timeout=5)

    def consumer(name: str) -> None:
        writer = StatusWriter(store, name, policy, before_write=first_attempt_in_step)
        try:
            for n in range(20):
                writer.write("job-1", {"status": "Running", "n": n})
                successes[name] += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=consumer, args=(name,), name=name) for name in successes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert successes == {"consumer_1": 20, "consumer_2": 20}
    item = jobs_table.item("job-1")
    assert set(item["job_status"]) == {"consumer_1", "consumer_2"}
    assert item["job_status"]["consumer_1"]["n"] == 19 and item["job_status"]["consumer_2"]["n"] == 19
    assert jobs_table.version("job-1") == sum(successes.values()) == 40
    assert store.conflicts >= 1
    assert store.attempts == 40 + store.conflicts


def test_conflict_fault_makes_exactly_n_conflicts_then_succeeds(jobs_table: JobsTable) -> None:
    jobs_table.put_job("job-1", 1)
    store = CountingStore(DynamoJobStore(jobs_table.name, jobs_table.client))
    hook = conflict_hook([Fault(where="processor", kind="conflict", times=3)], store)
    writer = StatusWriter(store, "consumer_1", RetryPolicy(attempts=5, base_delay=0.0), before_write=hook)

    assert writer.write("job-1", {"status": "Running"}) == 4  # 3 bumps by the "concurrent writer", then ours
    assert (store.conflicts, store.attempts) == (3, 4)
    assert jobs_table.status("job-1") == {"status": "Running"}

    # The count is per status write: the next write conflicts 3 times again.
    writer.write("job-1", {"status": "Success"})
    assert (store.conflicts, store.attempts) == (6, 8)
    assert jobs_table.version("job-1") == 8


def test_conflict_fault_with_as_many_times_as_attempts_exhausts_the_lock(jobs_table: JobsTable) -> None:
    jobs_table.put_job("job-1", 1)
    store = CountingStore(DynamoJobStore(jobs_table.name, jobs_table.client))
    hook = conflict_hook([Fault(where="processor", kind="conflict", times=3)], store)
    writer = StatusWriter(store, "consumer_1", RetryPolicy(attempts=3, base_delay=0.0), before_write=hook)
    with pytest.raises(LockExhausted):
        writer.write("job-1", {"status": "Running"})
    assert (store.conflicts, store.attempts) == (3, 3)
    assert jobs_table.status("job-1") is None


def test_an_item_just_read_saves_the_first_read_and_a_stale_one_is_read_again() -> None:
    store = MemoryJobStore()
    store.add("j", 1)
    current = store.get_item("j")
    assert current is not None
    write_status(store, "j", "consumer_1", {"status": "Running"}, NO_WAIT, current=current)
    assert (store.reads, store.attempts) == (1, 1)  # the caller's read only
    # the same (now stale) item again: its write conflicts, and the retry reads the item afresh
    write_status(store, "j", "consumer_2", {"status": "Running"}, NO_WAIT, current=current)
    assert (store.reads, store.attempts, store.conflicts) == (2, 3, 1)
    assert store.items["j"]["version"] == 2
    assert set(store.items["j"]["job_status"]) == {"consumer_1", "consumer_2"}


def test_a_guard_decides_on_the_item_as_it_is_after_a_conflict_and_refuses_without_writing() -> None:
    store = MemoryJobStore(returns_item_on_conflict=True)
    store.add("j", 1)
    image = store.get_item("j")  # the record's image: the item as inserted
    assert image is not None
    write_status(store, "j", "consumer_1", {"status": "Success"}, NO_WAIT)
    seen: list[Mapping[str, Any]] = []

    def settled(item: Mapping[str, Any]) -> str | None:
        seen.append(item)
        return "settled already" if "consumer_1" in item.get("job_status", {}) else None

    with pytest.raises(WriteRefused, match="settled already"):
        write_status(store, "j", "consumer_1", {"status": "Running"}, NO_WAIT, current=image, guard=settled)
    # asked about the image (nothing to refuse), then about the item the conflict returned (refused there)
    assert [item["version"] for item in seen] == [0, 1]
    assert store.items["j"]["job_status"] == {"consumer_1": {"status": "Success"}}
    assert store.items["j"]["version"] == 1


def test_a_conflict_that_returns_the_item_is_retried_without_a_read() -> None:
    store = MemoryJobStore(returns_item_on_conflict=True)
    store.add("j", 1)
    stale = store.get_item("j")
    assert stale is not None
    write_status(store, "j", "consumer_1", {"status": "Running"}, NO_WAIT, current=stale)
    write_status(store, "j", "consumer_2", {"status": "Running"}, NO_WAIT, current=stale)
    # consumer_2's first write lost; its retry started from the item the conflict returned, not a read
    assert (store.reads, store.attempts, store.conflicts) == (1, 3, 1)
    assert store.items["j"]["version"] == 2
