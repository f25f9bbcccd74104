"""Duplicate stream deliveries and racing consumers never lose an update (property-based).

The real locking, processor flow and error-handler flow run as actors against an in-memory store whose
every step (consistent read, conditional write) waits for its turn, so hypothesis chooses the interleaving
step by step, how many times each INSERT is delivered to each consumer, which consumers' processors fail
and how many attempts a status write gets. Then once more against moto's DynamoDB with real threads, so
the real condition expression decides the races.

A delivery is modelled as the architecture runs it: the processor (``process_job``); any error goes, with
retries 0, to the on-failure destination and the error handler (``handle_failure``); an error handler that
raises goes to EventBridge, from where a replay runs it again.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from handlers.adapters.dynamodb import DynamoJobStore, deserialize_image
from handlers.adapters.streams import DynamoStreamReader
from handlers.domain.error_handling import FailedBatch, StreamReader, error_text, handle_failure
from handlers.domain.faults import FaultClock, FaultPlanSource
from handlers.domain.job import parse_job
from handlers.domain.locking import Guard, JobStore, LockExhausted, RetryPolicy, StatusWriter
from handlers.domain.processing import process_job, skip_reason
from handlers.domain.status import FAILURE, SUCCESS, failure, success
from tests.unit.conftest import JobsTable
from tests.unit.fakes import DictPlanSource, MemoryJobStore, RecordingClock

TIMEOUT: Final = 3
"""The processor's TIMEOUT here: a job of TIMEOUT + 1 seconds is refused (the pattern's own failure path)."""
STEP_TIMEOUT: Final = 10.0
"""Seconds an actor may take to reach its next step: a bound against a hang, never a wait that passes."""
FAULT_PLAN: Final = "fails"
JOB_ID: Final = "job-1"
FAILED = FailedBatch(
    stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/jobs/stream/2026-01-01T00:00:00.000",
    shard_id="shardId-00000001",
    start_sequence_number="100",
    condition="RetryAttemptsExhausted",
    function_error="Unhandled",
    approximate_invoke_count=1,
)
TERMINAL: Final = frozenset({SUCCESS, FAILURE})


# --- deterministic interleaving -------------------------------------------------------------------
class Aborted(BaseException):
    """Raised in a parked actor when the example ends early (a failed assertion), so its thread exits."""


class Baton:
    """Lets exactly one actor thread run at a time; the test decides which parked actor steps next.

    Each actor is a real thread running the real flows, parked before every store step, so any
    interleaving of reads and conditional writes can be produced and is replayed exactly by hypothesis.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._local = threading.local()
        self._parked: set[str] = set()
        self._finished: set[str] = set()
        self._turn: str | None = None
        self._aborted = False
        self._threads: list[threading.Thread] = []
        self.crashes: dict[str, BaseException] = {}

    def park(self) -> None:
        """Called by an actor before each store step: wait until the test hands it the turn."""
        name: str = self._local.name
        with self._cond:
            self._parked.add(name)
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._turn == name or self._aborted, timeout=STEP_TIMEOUT):
                raise AssertionError(f"actor {name} was never given its turn")
            self._parked.discard(name)
            if self._aborted:
                raise Aborted
            self._turn = None
            self._cond.notify_all()

    def spawn(self, name: str, body: Callable[[], None]) -> None:
        """Start an actor; it parks before doing anything."""

        def run() -> None:
            self._local.name = name
            try:
                self.park()
                body()
            except Aborted:
                pass
            except BaseException as exc:  # reported by the test, never lost in a thread
                self.crashes[name] = exc
            finally:
                with self._cond:
                    self._finished.add(name)
                    self._cond.notify_all()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        with self._cond:
            assert self._cond.wait_for(lambda: name in self._parked, timeout=STEP_TIMEOUT)

    def parked(self) -> list[str]:
        """The actors waiting for a turn (all the others have finished)."""
        with self._cond:
            return sorted(self._parked)

    def step(self, name: str) -> None:
        """Let ``name`` run until it parks before its next store step, or finishes."""
        with self._cond:
            assert name in self._parked and self._turn is None
            self._turn = name
            self._cond.notify_all()
            assert self._cond.wait_for(
                lambda: self._turn is None and (name in self._parked or name in self._finished),
                timeout=STEP_TIMEOUT,
            ), f"actor {name} neither parked nor finished"

    def close(self) -> None:
        """Release every parked actor (a failed example) and join all threads."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=STEP_TIMEOUT)
            assert not thread.is_alive(), f"actor {thread.name} did not stop"


@dataclass
class SteppedStore(MemoryJobStore):
    """The in-memory JobStore whose reads and conditional writes each wait for the actor's turn.

    ``log`` is the store's own record of successful conditional writes: (consumer, status, new version).
    """

    baton: Baton | None = None
    log: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)

    def get_item(self, job_id: str) -> Mapping[str, Any] | None:
        if self.baton is not None:
            self.baton.park()
        return super().get_item(job_id)

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        if self.baton is not None:
            self.baton.park()
        super().put_status(job_id, consumer, status, expected_version=expected_version, create_map=create_map)
        with self._lock:
            self.log.append((consumer, dict(status), int(self.items[job_id]["version"])))


# --- what the flows did --------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempted:
    """One ``StatusWriter.write`` call as the flow saw it: written (with the version it returned) or not."""

    chain: str
    consumer: str
    status: dict[str, Any]
    version: int | None  # None: LockExhausted was raised


@dataclass(frozen=True)
class AuditedWriter(StatusWriter):
    """The real StatusWriter, recording what each write call returned or raised."""

    chain: str = ""
    audit: list[Attempted] = field(default_factory=list)

    def write(self, job_id: str, status: Mapping[str, Any], current: Mapping[str, Any] | None = None,
              guard: Guard | None = None) -> int:
        try:
            version = super().write(job_id, status, current=current, guard=guard)
        except LockExhausted:
            self.audit.append(Attempted(self.chain, self.consumer, dict(status), None))
            raise
        self.audit.append(Attempted(self.chain, self.consumer, dict(status), version))
        return version


@dataclass
class Scenario:
    """One job, its consumers, the deliveries of its INSERT, and what every flow did."""

    seconds: int
    deliveries: dict[str, int]
    faulted: frozenset[str]
    policy: RetryPolicy
    audit: list[Attempted] = field(default_factory=list)
    replays: dict[str, int] = field(default_factory=dict)
    processor_errors: dict[str, str] = field(default_factory=dict)

    @property
    def chains(self) -> int:
        return sum(self.deliveries.values())

    @property
    def max_replays(self) -> int:
        """Each failed error-handler run needs a write of another chain; each chain writes at most 2."""
        return 2 * self.chains + 1

    def image(self) -> dict[str, Any]:
        """The INSERT's NewImage, as the API writes it (version 0, no status yet)."""
        return {"id": JOB_ID, "seconds": self.seconds, "version": 0, "job_status": {}, "fault": FAULT_PLAN}

    def plans(self) -> FaultPlanSource:
        """One plan making the chosen consumers' processors raise."""
        consumers = ", ".join(f'"{c}"' for c in sorted(self.faulted))
        return DictPlanSource(
            {FAULT_PLAN: f'{{"faults": [{{"where": "processor", "kind": "raise", "consumers": [{consumers}]}}]}}'}
        )

    def expected(self, consumer: str) -> dict[str, Any]:
        """The one result a single delivery gives this consumer (no lock exhaustion)."""
        if self.seconds > TIMEOUT or consumer in self.faulted:
            return failure(self.seconds, error_text(FAILED))
        return success(self.seconds)

    def deliver(
        self, store: JobStore, reader: StreamReader, plans: FaultPlanSource, consumer: str, chain: str
    ) -> None:
        """One delivery of the INSERT to ``consumer``: processor, then on any error the error handler
        (again on each replay when it raised)."""
        clock = RecordingClock()
        fault_clock = FaultClock(clock.sleep, clock.sleep_real, clock.remaining_seconds)
        writer = AuditedWriter(store, consumer, self.policy, sleep=clock.sleep, chain=chain, audit=self.audit)
        job = parse_job(self.image())
        assert skip_reason(job, consumer) is None
        try:
            # as the processor: the record's image starts the Running write (stale as soon as another chain
            # has written, which is what the interleavings probe); a duplicate of a settled delivery is skipped
            process_job(job, writer, timeout=TIMEOUT, plans=plans, clock=fault_clock, bumper=None,
                        current=self.image())
            return
        except Exception as exc:
            self.processor_errors[chain] = type(exc).__name__
        for replay in range(self.max_replays):
            try:
                handle_failure(FAILED, reader=reader, writer=writer, plans=plans, clock=fault_clock, bumper=None)
            except LockExhausted:
                self.replays[chain] = replay + 1
                continue
            return
        raise AssertionError(f"{chain}: the error handler never got its Failure written")


class ImageReader:
    """StreamReader over the one INSERT record (the error handler reads the failed record back)."""

    def __init__(self, image: Mapping[str, Any]) -> None:
        self.image = image

    def read_new_image(self, stream_arn: str, shard_id: str, sequence_number: str) -> Mapping[str, Any]:
        return self.image


# --- the properties --------------------------------------------------------------------------------
def assert_nothing_lost(
    scenario: Scenario,
    item: Mapping[str, Any],
    log: list[tuple[str, dict[str, Any], int]],
    *,
    one_result: bool,
) -> None:
    """Nothing lost, nothing written twice, over the final item, the store's write log and the flows' audit."""
    written = [a for a in scenario.audit if a.version is not None]
    # version counts the successful conditional writes, one per returned write call, none lost
    assert [version for _, _, version in log] == list(range(1, len(log) + 1))
    assert int(item["version"]) == len(log) == len(written)
    for attempt in written:
        assert attempt.version is not None
        assert log[attempt.version - 1][:2] == (attempt.consumer, attempt.status), "a returned write is not stored"
    # a refused write is never silent: its chain goes on to a written Failure
    for refused in (a for a in scenario.audit if a.version is None):
        later = scenario.audit[scenario.audit.index(refused) + 1 :]
        assert any(a.chain == refused.chain and a.version and a.status["status"] == FAILURE for a in later)
    # each consumer ends terminal, on the last status it wrote
    assert set(item["job_status"]) == set(scenario.deliveries)
    for consumer in scenario.deliveries:
        own = [status for c, status, _ in log if c == consumer]
        final = dict(item["job_status"][consumer])
        assert final == own[-1], f"{consumer}: final status is not the last one it wrote"
        assert final["status"] in TERMINAL, f"{consumer} ends {final['status']}"
        results = {repr(sorted(s.items())) for s in own if s["status"] in TERMINAL}
        if one_result:
            # a write that lost every race turns the delivery into a Failure, as the architecture does
            exhausted = any(a.consumer == consumer and a.version is None for a in scenario.audit)
            want = failure(scenario.seconds, error_text(FAILED)) if exhausted else scenario.expected(consumer)
            assert results == {repr(sorted(want.items()))}, f"{consumer}: {results}"


@st.composite
def scenarios(draw: st.DrawFn, *, attempts: st.SearchStrategy[int] | None = None, max_deliveries: int = 3) -> Scenario:
    """Consumers (1-3), deliveries of the INSERT to each, which processors fail, the job's seconds."""
    count = draw(st.integers(1, 3), label="consumers")
    consumers = [f"consumer_{n}" for n in range(1, count + 1)]
    deliveries = {c: draw(st.integers(1, max_deliveries), label=f"deliveries to {c}") for c in consumers}
    faulted = frozenset(draw(st.sets(st.sampled_from(consumers)), label="failing processors"))
    seconds = draw(st.integers(1, TIMEOUT + 1), label="seconds")
    chains = sum(deliveries.values())
    # Enough attempts that no write can exhaust: each conflict needs a write of another chain (<= 2 each).
    tries = 2 * chains + 1 if attempts is None else draw(attempts, label="attempts")
    return Scenario(seconds, deliveries, faulted, RetryPolicy(attempts=tries, base_delay=0.0, max_delay=0.0))


@contextmanager
def stepped(scenario: Scenario) -> Iterator[tuple[SteppedStore, Baton]]:
    """A stepped store holding the job, and one parked actor per delivery."""
    baton = Baton()
    store = SteppedStore(baton=baton)
    store.add(JOB_ID, scenario.seconds, fault=FAULT_PLAN)
    reader = ImageReader(scenario.image())
    plans = scenario.plans()
    try:
        for consumer, count in scenario.deliveries.items():
            for n in range(1, count + 1):
                chain = f"{consumer}#{n}"
                baton.spawn(chain, functools.partial(scenario.deliver, store, reader, plans, consumer, chain))
        yield store, baton
    finally:
        baton.close()


def run_interleaved(data: st.DataObject, scenario: Scenario) -> SteppedStore:
    """Run every actor to its end, hypothesis choosing which one takes the next step."""
    with stepped(scenario) as (store, baton):
        while parked := baton.parked():
            baton.step(data.draw(st.sampled_from(parked), label="next step"))
        assert baton.crashes == {}
    note(f"processor errors: {scenario.processor_errors}; error handler replays: {scenario.replays}")
    note(f"writes: {store.log}")
    event("conflicted" if store.conflicts else "no conflict")
    event("duplicates" if scenario.chains > len(scenario.deliveries) else "single deliveries")
    return store


IN_MEMORY = settings(max_examples=150, deadline=None, database=None, print_blob=True)


@IN_MEMORY
@given(data=st.data(), scenario=scenarios())
def test_racing_consumers_and_duplicate_deliveries_never_lose_an_update(
    data: st.DataObject, scenario: Scenario
) -> None:
    store = run_interleaved(data, scenario)
    assert all(a.version is not None for a in scenario.audit), "no write can exhaust with these attempts"
    assert_nothing_lost(scenario, store.items[JOB_ID], store.log, one_result=True)


@IN_MEMORY
@given(data=st.data(), scenario=scenarios(attempts=st.integers(1, 3)))
def test_exhausted_writes_are_never_silent_and_still_end_terminal(data: st.DataObject, scenario: Scenario) -> None:
    # With few attempts a write may lose every race: it raises, the flow takes the failure path, and
    # with one delivery per consumer the single result still holds.
    store = run_interleaved(data, scenario)
    single = all(count == 1 for count in scenario.deliveries.values())
    assert_nothing_lost(scenario, store.items[JOB_ID], store.log, one_result=single)


@pytest.mark.xfail(
    strict=True,
    reason="known limit: two deliveries of one record running at the same time can both write (a duplicate "
    "after the job ended is skipped, see test_processor). AWS's mapping delivers one item's records in order, "
    "one batch after the other (with a ParallelizationFactor too), so a duplicate never overlaps its first "
    "delivery there.",
)
def test_a_duplicate_delivery_and_an_exhausted_write_give_one_result() -> None:
    # consumer_1's INSERT is delivered twice; one attempt per write; both start from the record's image.
    # Script: A and B start; B writes Running; A's Running (from the image) conflicts and exhausts -> its
    # error handler reads and writes Failure; B reads for Success and writes it: two results.
    scenario = Scenario(1, {"consumer_1": 2}, frozenset(), RetryPolicy(attempts=1, base_delay=0.0))
    with stepped(scenario) as (store, baton):
        script = ["consumer_1#1", "consumer_1#2", "consumer_1#2"] + ["consumer_1#1"] * 3 + ["consumer_1#2"] * 2
        for name in script:
            baton.step(name)
        while parked := baton.parked():
            baton.step(parked[0])
        assert baton.crashes == {}
    assert [status["status"] for _, status, _ in store.log] == ["Running", "Failure", "Success"]
    assert_nothing_lost(scenario, store.items[JOB_ID], store.log, one_result=True)


# --- against moto, real threads -------------------------------------------------------------------
@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional write atomically; moto 5.2.5 checks the condition and then updates
    without a lock, so a thread switch in between would be moto's lost update, not ours. Give moto that
    atomicity back (reads too, so no read sees half an update)."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("update_item", "get_item", "put_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


class LoggingDynamoStore(DynamoJobStore):
    """The real DynamoDB adapter, recording its successful conditional writes (the table has no log)."""

    def __init__(self, table_name: str, client: Any) -> None:
        super().__init__(table_name, client)
        self.log: list[tuple[str, dict[str, Any], int]] = []
        self._lock = threading.Lock()

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        super().put_status(job_id, consumer, status, expected_version=expected_version, create_map=create_map)
        with self._lock:
            self.log.append((consumer, dict(status), (expected_version or 0) + 1))


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    # one moto table for all examples; each example writes its own job
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios(max_deliveries=2))
def test_racing_threads_against_moto_never_lose_an_update(
    jobs_table: JobsTable, atomic_moto: None, scenario: Scenario
) -> None:
    job_id = f"job-{uuid.uuid4().hex}"
    insert = jobs_table.put_job(job_id, scenario.seconds, fault=FAULT_PLAN)
    scenario.policy = RetryPolicy(attempts=scenario.policy.attempts, base_delay=0.001, max_delay=0.005)
    store = LoggingDynamoStore(jobs_table.name, jobs_table.client)
    reader = DynamoStreamReader(jobs_table.streams)
    failed = FailedBatch(
        stream_arn=jobs_table.stream_arn,
        shard_id=jobs_table.shard_id,
        start_sequence_number=insert["dynamodb"]["SequenceNumber"],
        condition=FAILED.condition,
        function_error=FAILED.function_error,
        approximate_invoke_count=FAILED.approximate_invoke_count,
    )
    image = deserialize_image(insert["dynamodb"]["NewImage"])
    plans = scenario.plans()
    chains = [(c, f"{c}#{n}") for c, count in scenario.deliveries.items() for n in range(1, count + 1)]
    start = threading.Barrier(len(chains))
    crashes: dict[str, BaseException] = {}

    def deliver(consumer: str, chain: str) -> None:
        try:
            start.wait(timeout=STEP_TIMEOUT)
            clock = RecordingClock()
            fault_clock = FaultClock(clock.sleep, clock.sleep_real, clock.remaining_seconds)
            writer = AuditedWriter(store, consumer, scenario.policy, chain=chain, audit=scenario.audit)
            job = parse_job(image)
            try:
                process_job(job, writer, timeout=TIMEOUT, plans=plans, clock=fault_clock, bumper=None,
                            current=image)
            except Exception:
                handle_failure(failed, reader=reader, writer=writer, plans=plans, clock=fault_clock, bumper=None)
        except BaseException as exc:  # reported below
            crashes[chain] = exc

    threads = [threading.Thread(target=deliver, args=chain, name=chain[1]) for chain in chains]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert crashes == {}

    item = jobs_table.item(job_id)
    log = sorted(store.log, key=lambda entry: entry[2])
    assert_nothing_lost(scenario, item, log, one_result=True)
    # the stream saw every write too: one MODIFY per successful write, after the INSERT
    assert len([s for s in jobs_table.stream_records() if s["dynamodb"]["Keys"]["id"]["S"] == job_id]) == len(log) + 1
