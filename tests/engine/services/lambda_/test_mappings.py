"""Stream mapping semantics with a fake function (the real runtime is covered end to end)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jobkit.client.waiting import wait_for
from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.errors import AwsError
from jobkit.engine.moto.writes import WRITE_LOCK
from jobkit.engine.services.lambda_.mappings import MappingConfig, StreamMappings, lane_of, on_failure_record
from tests.engine.conftest import FakeInvoker, result

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:consumer"
DESTINATION = "arn:aws:sns:us-east-1:000000000000:failures"


@pytest.fixture
def table(moto_endpoint: Callable[[str], Any]) -> tuple[Any, str, str]:
    client = moto_endpoint("dynamodb")
    name = f"t-{uuid.uuid4().hex[:8]}"
    description = client.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    return client, name, description["LatestStreamArn"]


class Harness:
    def __init__(self, table: tuple[Any, str, str], invoker: FakeInvoker, clock: SandboxClock | None = None,
                 **settings: Any) -> None:
        self.client, self.name, self.stream_arn = table
        self.invoker = invoker
        self.failures: list[dict[str, Any]] = []
        self.destinations: list[str] = []  # where each of ``failures`` was sent
        self.decisions: list[tuple[list[str], str, str]] = []  # (the batch's ids, decision, detail)
        config = MappingConfig(uuid=str(uuid.uuid4()), function=FUNCTION, stream_arn=self.stream_arn,
                               on_failure=DESTINATION, **settings)
        self.mappings = StreamMappings([config], invoker=invoker, clock=clock or SandboxClock(),
                                       send_failure=self._send_failure, account="000000000000",
                                       region="us-east-1", on_decision=self._decided)

    def _decided(self, config: MappingConfig, part: list[Any], decision: str, detail: str) -> None:
        self.decisions.append(([e.event["dynamodb"]["Keys"]["id"]["S"] for e in part], decision, detail))

    def _send_failure(self, arn: str, record: dict[str, Any]) -> None:
        self.destinations.append(arn)
        self.failures.append(record)

    def put(self, job_id: str, **extra: Any) -> None:
        self.client.put_item(TableName=self.name, Item={"id": {"S": job_id}, **extra})

    def settle(self) -> None:
        wait_for(self.mappings.idle, bool, timeout=10, describe="the mapping to go idle", interval=0.01)


@pytest.fixture
def harness_factory(table: tuple[Any, str, str]) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(invoker: FakeInvoker, **settings: Any) -> Harness:
        harness = Harness(table, invoker, **settings)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.mappings.stop()


def ids(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]


def test_records_in_aws_shape(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1)
    h.mappings.start()
    h.put("a", seconds={"N": "1"})
    wait_for(lambda: invoker.calls, bool, timeout=10, describe="an invocation")
    record = invoker.calls[0]["Records"][0]
    assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == h.stream_arn
    data = record["dynamodb"]
    assert isinstance(data["ApproximateCreationDateTime"], float)
    assert data["NewImage"] == {"id": {"S": "a"}, "seconds": {"N": "1"}}
    assert data["StreamViewType"] == "NEW_IMAGE" and data["SizeBytes"] > 0
    assert data["SequenceNumber"].isdigit()


def test_trim_horizon_and_batch_size(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="TRIM_HORIZON", batch_size=2)
    for job in "abcde":
        h.put(job)
    h.mappings.start()  # records written before the mapping: TRIM_HORIZON reads them
    wait_for(lambda: sum(len(c["Records"]) for c in invoker.calls), lambda n: n == 5, timeout=10,
             describe="five records")
    assert [ids(c) for c in invoker.calls] == [["a", "b"], ["c", "d"], ["e"]]


def test_latest_skips_older_records(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST")
    h.put("old")
    h.mappings.start()
    h.put("new")
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["new"]]


def test_filter_drops_records_that_match_no_pattern(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=10,
                        filters=({"eventName": ["INSERT"]},))
    h.mappings.start()
    h.put("a")
    h.put("a", extra={"S": "modified"})  # MODIFY
    h.put("b")
    h.settle()
    events = [r["eventName"] for c in invoker.calls for r in c["Records"]]
    assert events == ["INSERT", "INSERT"]


def test_retries_then_on_failure_record(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom"))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, maximum_retry_attempts=2)
    h.mappings.start()
    h.put("a")
    wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
    assert len(invoker.calls) == 3
    record = h.failures[0]
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == FUNCTION
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    info = record["DDBStreamBatchInfo"]
    sequence = invoker.calls[0]["Records"][0]["dynamodb"]["SequenceNumber"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence
    assert info["batchSize"] == 1 and info["streamArn"] == h.stream_arn and info["shardId"].startswith("shardId-")
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_an_undeliverable_on_failure_record_discards_the_batch_and_the_shard_moves_on(
    harness_factory: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """Lambda: "If the error handling measures fail, Lambda discards the records and continues processing
    batches from the stream" (services-dynamodb-errors). The batch is not re-run (its function not invoked
    again), the next record is processed, and the failure is one log line, not a traceback."""
    invoker = FakeInvoker(respond=lambda event: result(error="Boom") if ids(event) == ["a"] else result(None))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, maximum_retry_attempts=0)

    def topic_gone(arn: str, record: dict[str, Any]) -> None:
        raise RuntimeError(f"Topic does not exist: {arn}")

    for poller in h.mappings.pollers:
        poller.send_failure = topic_gone
    h.mappings.start()
    with caplog.at_level(logging.WARNING, logger="jobkit.engine.services.lambda_.mappings"):
        h.put("a")
        h.put("b")
        h.settle()
    assert [ids(c) for c in invoker.calls] == [["a"], ["b"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not be sent to " + DESTINATION in warnings[0]
    assert "Topic does not exist" in warnings[0] and "discarded" in warnings[0]


def test_a_failing_batch_holds_its_shard(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom") if ids(event) == ["a"] else result(None))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, maximum_retry_attempts=1)
    h.mappings.start()
    h.put("a")
    h.put("b")
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["a"], ["a"], ["b"]]


def test_record_age_discards_without_invoking(table: tuple[Any, str, str]) -> None:
    clock = SandboxClock()
    invoker = FakeInvoker()
    h = Harness(table, invoker, clock=clock, starting_position="TRIM_HORIZON", maximum_record_age=60)
    h.put("old")
    clock.advance(120)
    h.mappings.start()
    try:
        wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
        assert invoker.calls == []
        assert h.failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
        assert h.failures[0]["requestContext"]["approximateInvokeCount"] == 0
    finally:
        h.mappings.stop()


def test_bisect_isolates_the_bad_record(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Poison") if "c" in ids(event) else result(None))
    h = harness_factory(invoker, starting_position="TRIM_HORIZON", batch_size=4, bisect=True,
                        maximum_retry_attempts=0)
    for job in "abcd":
        h.put(job)
    h.mappings.start()
    wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["a", "b", "c", "d"], ["a", "b"], ["c", "d"], ["c"], ["d"]]
    assert len(h.failures) == 1 and h.failures[0]["DDBStreamBatchInfo"]["batchSize"] == 1


def test_retries_bisects_and_discards_are_reported_as_decisions(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Poison") if "b" in ids(event) else result(None))
    h = harness_factory(invoker, starting_position="TRIM_HORIZON", batch_size=2, bisect=True,
                        maximum_retry_attempts=1)
    for job in "ab":
        h.put(job)
    h.mappings.start()
    wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
    h.settle()
    assert [(batch, decision) for batch, decision, _ in h.decisions] == [
        (["a", "b"], "bisect"), (["b"], "retry"), (["b"], "discard")]
    assert h.decisions[0][2] == "2 records split into 1 + 1"
    assert h.decisions[1][2] == "retry 1 of 1, 1 record(s)"
    assert h.decisions[2][2].startswith("RetryAttemptsExhausted after 2 invocation(s)")


def test_report_batch_item_failures_retries_from_the_failed_record(harness_factory: Callable[..., Harness]) -> None:
    seen: list[list[str]] = []

    def respond(event: dict[str, Any]) -> Any:
        seen.append(ids(event))
        if len(seen) == 1:
            failed = event["Records"][1]["dynamodb"]["SequenceNumber"]
            return result({"batchItemFailures": [{"itemIdentifier": failed}]})
        return result({"batchItemFailures": []})

    invoker = FakeInvoker(respond=respond)
    h = harness_factory(invoker, starting_position="TRIM_HORIZON", batch_size=3, report_batch_item_failures=True,
                        maximum_retry_attempts=1)
    for job in "abc":
        h.put(job)
    h.mappings.start()
    h.settle()
    assert seen == [["a", "b", "c"], ["b", "c"]]
    assert h.failures == []


def test_mapping_config_from_template_properties() -> None:
    props = {"BatchSize": 1, "BisectBatchOnFunctionError": False, "EventSourceArn": "arn:s",
             "DestinationConfig": {"OnFailure": {"Destination": DESTINATION}}, "FunctionName": "f",
             "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]},
             "MaximumRecordAgeInSeconds": 21600, "MaximumRetryAttempts": 0, "StartingPosition": "TRIM_HORIZON"}
    config = MappingConfig.from_properties("id", props)
    assert config.filters == ({"eventName": ["INSERT"]},)
    assert (config.batch_size, config.maximum_retry_attempts, config.maximum_record_age) == (1, 0, 21600)
    assert config.on_failure == DESTINATION and config.starting_position == "TRIM_HORIZON"
    assert config.parallelization_factor == 1
    assert MappingConfig.from_properties("id", {**props, "ParallelizationFactor": 10}).parallelization_factor == 10


def test_on_failure_record_without_invocation_has_no_function_error() -> None:
    from jobkit.engine.services.lambda_.mappings import StreamEntry

    entry = StreamEntry(0, {"dynamodb": {"SequenceNumber": "1", "ApproximateCreationDateTime": 0.0}}, 0.0)
    config = MappingConfig(uuid="u", function=FUNCTION, stream_arn="arn:s")
    record = on_failure_record(config, [entry], "RecordAgeExceeded", None, 0, 10.0, "shardId-1", FUNCTION)
    assert "functionError" not in record["responseContext"]
    assert record["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] == "1970-01-01T00:00:00Z"


class Overlaps:
    """A function that takes a while and records which items it ran at once: how many invocations overlapped
    at most, whether one item ever overlapped itself, and each item's records in the order they ran."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.lock = threading.Condition()
        self.running: list[str] = []
        self.most = 0
        self.self_overlap = False
        self.order: dict[str, list[str]] = {}

    def __call__(self, event: dict[str, Any]) -> Any:
        record = event["Records"][0]
        item = record["dynamodb"]["Keys"]["id"]["S"]
        with self.lock:
            self.self_overlap |= item in self.running
            self.running.append(item)
            self.most = max(self.most, len(self.running))
            self.order.setdefault(item, []).append(record["dynamodb"]["NewImage"]["step"]["N"])
            self.lock.notify_all()
            # hold the batch until enough lanes run at once (or a deadline), so concurrency is observed, not
            # hoped for; with one lane this only waits out the deadline on the first batch
            self.lock.wait_for(lambda: self.most >= self.wanted, timeout=2)
            self.running.remove(item)
        return result(None)


@pytest.mark.parametrize("factor", [1, 4])
def test_parallelization_factor_runs_batches_at_once_one_item_in_order(
        harness_factory: Callable[..., Harness], factor: int) -> None:
    function = Overlaps(wanted=factor)
    h = harness_factory(FakeInvoker(respond=function), starting_position="LATEST", batch_size=1,
                        parallelization_factor=factor)
    h.mappings.start()
    items = [f"job-{n}" for n in range(12)]
    for step in range(3):
        for item in items:
            h.put(item, step={"N": str(step)})
    wait_for(lambda: sum(map(len, function.order.values())), lambda n: n == 36, timeout=30, interval=0.01,
             describe="every record processed")
    h.settle()
    assert function.most == factor  # never more lanes than the factor, and all of them used
    assert not function.self_overlap
    assert all(steps == ["0", "1", "2"] for steps in function.order.values())


def test_a_record_goes_to_the_lane_of_its_key() -> None:
    record = {"dynamodb": {"Keys": {"id": {"S": "job-1"}}}}
    lanes = {lane_of(record, 10) for _ in range(3)}
    assert len(lanes) == 1 and 0 <= lanes.pop() < 10
    assert lane_of(record, 1) == 0
    spread = {lane_of({"dynamodb": {"Keys": {"id": {"S": f"job-{n}"}}}}, 10) for n in range(200)}
    assert spread == set(range(10))


def _call(method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Any:
    """A signed-looking Lambda API request as the engine's server identifies it."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from jobkit.engine.core.server import identify

    raw = json.dumps(body).encode() if body is not None else b""
    environ = EnvironBuilder(method=method, path=path, data=raw, query_string=query, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, Signature=x"},
    ).get_environ()
    request = Request(environ)
    call = identify(request, raw)
    assert call is not None
    return request, call


def test_disabled_mapping_keeps_its_records_until_enabled_again(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, parallelization_factor=2)
    h.mappings.start()
    mapping = h.mappings.pollers[0].config.uuid
    path = f"/2015-03-31/event-source-mappings/{mapping}"
    request, call = _call("PUT", path, {"Enabled": False})
    assert call.action == "UpdateEventSourceMapping"
    answer = h.mappings.intercept_update(request, call)
    assert answer.status_code == 202 and json.loads(answer.get_data())["State"] == "Disabling"
    request, call = _call("GET", path)
    assert call.action == "GetEventSourceMapping"
    wait_for(lambda: json.loads(h.mappings.intercept_get(request, call).get_data())["State"],
             lambda state: state == "Disabled", timeout=10, describe="the mapping Disabled")
    h.put("a")
    h.put("b")
    h.settle()  # a disabled mapping is idle with records waiting
    assert invoker.calls == []
    h.mappings.intercept_update(*_call("PUT", path, {"Enabled": True}))
    wait_for(lambda: len(invoker.calls), lambda n: n == 2, timeout=10, describe="both records, once enabled")
    assert sorted(ids(c)[0] for c in invoker.calls) == ["a", "b"]


def test_mapping_api_lists_describes_and_refuses_what_it_cannot_change(
        harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(FakeInvoker(), starting_position="TRIM_HORIZON", batch_size=1, parallelization_factor=3,
                        filters=({"eventName": ["INSERT"]},))
    poller = h.mappings.pollers[0]
    request, call = _call("GET", "/2015-03-31/event-source-mappings/", query={"FunctionName": "consumer"})
    assert call.action == "ListEventSourceMappings"
    [described] = json.loads(h.mappings.intercept_list(request, call).get_data())["EventSourceMappings"]
    assert described["UUID"] == poller.config.uuid and described["FunctionArn"] == FUNCTION
    assert (described["ParallelizationFactor"], described["BatchSize"], described["State"]) == (3, 1, "Enabled")
    assert described["FilterCriteria"] == {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}
    assert described["DestinationConfig"] == {"OnFailure": {"Destination": DESTINATION}}
    request, call = _call("GET", "/2015-03-31/event-source-mappings/", query={"FunctionName": "other"})
    assert json.loads(h.mappings.intercept_list(request, call).get_data())["EventSourceMappings"] == []

    refused = h.mappings.intercept_update(*_call("PUT", f"/2015-03-31/event-source-mappings/{poller.config.uuid}",
                                                 {"TumblingWindowInSeconds": 10}))
    assert refused.status_code == 400 and refused.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert "TumblingWindowInSeconds" in json.loads(refused.get_data())["message"]
    missing = h.mappings.intercept_get(*_call("GET", "/2015-03-31/event-source-mappings/no-such-uuid"))
    assert missing.status_code == 404 and missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "no-such-uuid" in json.loads(missing.get_data())["Message"]  # this shape's member is "Message"


def test_a_mapping_added_while_items_are_written_reads_each_record_once(table: tuple[Any, str, str]) -> None:
    """CreateEventSourceMapping at runtime: the records already in the shard (TRIM_HORIZON) and those written
    after it, each exactly once, however the writes and the creation interleave."""
    client, name, stream_arn = table
    invoker = FakeInvoker()
    mappings = StreamMappings([], invoker=invoker, clock=SandboxClock(), send_failure=lambda arn, record: None,
                              account="000000000000", region="us-east-1")
    mappings.start()
    written = threading.Event()

    def write() -> None:
        for n in range(120):
            client.put_item(TableName=name, Item={"id": {"S": f"j-{n}"}})
        written.set()

    writer = threading.Thread(target=write, daemon=True)
    try:
        writer.start()
        wait_for(lambda: client.scan(TableName=name, Select="COUNT")["Count"], lambda n: n >= 30, timeout=10,
                 describe="some writes before the mapping")
        mappings.add(MappingConfig(uuid=str(uuid.uuid4()), function=FUNCTION, stream_arn=stream_arn,
                                   starting_position="TRIM_HORIZON", batch_size=10))
        assert written.wait(30)
        seen = wait_for(lambda: [k for c in invoker.calls for k in ids(c)], lambda keys: len(keys) >= 120,
                        timeout=10, describe="every record")
        wait_for(mappings.idle, bool, timeout=10, describe="the mapping idle")
        assert sorted(seen) == sorted(f"j-{n}" for n in range(120))  # none missed, none twice
    finally:
        mappings.stop()


# --- UpdateEventSourceMapping -------------------------------------------------------------------------------
def _update(h: Harness, body: Any) -> tuple[int, dict[str, Any]]:
    """UpdateEventSourceMapping of the harness's mapping: (status, answer)."""
    answer = h.mappings.intercept_update(*_call("PUT", _path(h), body))
    return answer.status_code, json.loads(answer.get_data())


def _get(h: Harness) -> dict[str, Any]:
    answer = h.mappings.intercept_get(*_call("GET", _path(h)))
    assert answer.status_code == 200
    document: dict[str, Any] = json.loads(answer.get_data())
    return document


def _path(h: Harness) -> str:
    return f"/2015-03-31/event-source-mappings/{h.mappings.pollers[0].config.uuid}"


class Gate:
    """A function whose first invocation waits until ``open()``: a batch held under way while a test updates."""

    def __init__(self, then: Callable[[dict[str, Any]], Any] = lambda event: result(None)) -> None:
        self.then = then
        self.held = threading.Event()
        self._open = threading.Event()
        self._first = True

    def __call__(self, event: dict[str, Any]) -> Any:
        if self._first:
            self._first = False
            self.held.set()
            assert self._open.wait(10), "the gate was never opened"
        return self.then(event)

    def open(self) -> None:
        self._open.set()


def test_a_batch_size_update_reaches_the_next_batch_without_losing_or_rereading_a_record(
        harness_factory: Callable[..., Harness]) -> None:
    gate = Gate()
    invoker = FakeInvoker(respond=gate)
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1)
    h.mappings.start()
    h.put("a")
    assert gate.held.wait(10)
    for job in "bcd":
        h.put(job)
    status, answer = _update(h, {"BatchSize": 10})
    assert status == 202 and answer["State"] == "Updating" and answer["BatchSize"] == 10
    assert _get(h)["BatchSize"] == 10 and _get(h)["State"] == "Enabled"
    gate.open()
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["a"], ["b", "c", "d"]]


class WindowClock(SandboxClock):
    """A sandbox clock that records the batching windows asked of it, and waits none of them out."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wall_seconds(self, sandbox_seconds: float) -> float:
        self.waits.append(sandbox_seconds)
        return 0.0


def test_a_batching_window_update_is_waited_before_the_next_batch(table: tuple[Any, str, str]) -> None:
    clock = WindowClock()
    invoker = FakeInvoker()
    h = Harness(table, invoker, clock=clock, starting_position="LATEST", batch_size=10)
    h.mappings.start()
    try:
        h.put("a")
        h.settle()
        assert clock.waits == [] and [ids(c) for c in invoker.calls] == [["a"]]
        status, answer = _update(h, {"MaximumBatchingWindowInSeconds": 30})
        assert status == 202 and answer["MaximumBatchingWindowInSeconds"] == 30
        h.put("b")
        h.settle()
        assert clock.waits == [30] and [ids(c) for c in invoker.calls] == [["a"], ["b"]]
    finally:
        h.mappings.stop()


def test_retries_and_destination_updated_end_a_batch_retried_without_end_at_the_new_destination(
        harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom"))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, maximum_retry_attempts=-1)
    h.mappings.start()
    h.put("a")
    wait_for(lambda: len(invoker.calls), lambda n: n >= 2, timeout=10, describe="the batch retried")
    assert h.failures == []
    other = "arn:aws:sqs:us-east-1:000000000000:other-failures"
    status, answer = _update(h, {"MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": other}}})
    assert status == 202 and answer["MaximumRetryAttempts"] == 0
    assert _get(h)["DestinationConfig"] == {"OnFailure": {"Destination": other}}
    wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
    h.settle()
    assert h.destinations == [other]
    assert h.failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_a_record_age_update_discards_a_batch_older_than_it(table: tuple[Any, str, str]) -> None:
    clock = SandboxClock()
    invoker = FakeInvoker(respond=lambda event: result(error="Boom"))
    h = Harness(table, invoker, clock=clock, starting_position="LATEST", batch_size=1)
    h.mappings.start()
    try:
        h.put("old")
        wait_for(lambda: invoker.calls, bool, timeout=10, describe="the batch tried")
        clock.advance(120)
        status, answer = _update(h, {"MaximumRecordAgeInSeconds": 60})
        assert status == 202 and answer["MaximumRecordAgeInSeconds"] == _get(h)["MaximumRecordAgeInSeconds"] == 60
        wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
        assert h.failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    finally:
        h.mappings.stop()


def test_bisect_updated_with_enabled_splits_the_failing_batch(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Poison") if "c" in ids(event) else result(None))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=4, maximum_retry_attempts=0,
                        enabled=False)
    h.mappings.start()
    for job in "abcd":
        h.put(job)
    h.settle()
    assert invoker.calls == []
    status, answer = _update(h, {"BisectBatchOnFunctionError": True, "Enabled": True})
    assert status == 202 and answer["State"] == "Enabling" and answer["BisectBatchOnFunctionError"] is True
    wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["a", "b", "c", "d"], ["a", "b"], ["c", "d"], ["c"], ["d"]]
    assert _get(h)["State"] == "Enabled"


def test_function_response_types_updated_retry_from_the_reported_record(
        harness_factory: Callable[..., Harness]) -> None:
    seen: list[list[str]] = []

    def respond(event: dict[str, Any]) -> Any:
        seen.append(ids(event))
        if len(seen) == 1:
            failed = event["Records"][1]["dynamodb"]["SequenceNumber"]
            return result({"batchItemFailures": [{"itemIdentifier": failed}]})
        return result(None)

    h = harness_factory(FakeInvoker(respond=respond), starting_position="LATEST", batch_size=3, enabled=False)
    h.mappings.start()
    for job in "abc":
        h.put(job)
    status, answer = _update(h, {"FunctionResponseTypes": ["ReportBatchItemFailures"], "Enabled": True})
    assert status == 202 and answer["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    wait_for(lambda: len(seen), lambda n: n == 2, timeout=10, describe="the retry from the reported record")
    h.settle()
    assert seen == [["a", "b", "c"], ["b", "c"]]


def test_filters_updated_judge_every_record_not_yet_read_and_an_empty_criteria_removes_them(
        harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=10, enabled=False)
    h.mappings.start()
    h.put("a")
    h.put("a", extra={"S": "modified"})  # MODIFY
    h.put("b")
    inserts = {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]}
    status, answer = _update(h, {"FilterCriteria": inserts, "Enabled": True})
    assert status == 202 and answer["FilterCriteria"] == inserts
    wait_for(lambda: invoker.calls, bool, timeout=10, describe="the filtered batch")
    h.settle()
    assert [r["eventName"] for c in invoker.calls for r in c["Records"]] == ["INSERT", "INSERT"]
    status, answer = _update(h, {"FilterCriteria": {}})
    assert status == 202 and "FilterCriteria" not in _get(h)
    h.put("b", extra={"S": "modified"})
    wait_for(lambda: len(invoker.calls), lambda n: n == 2, timeout=10, describe="the MODIFY record, unfiltered")
    assert [r["eventName"] for r in invoker.calls[1]["Records"]] == ["MODIFY"]


def test_a_parallelization_factor_update_reforms_the_lanes_once_the_batch_under_way_ends(
        harness_factory: Callable[..., Harness]) -> None:
    function = Overlaps(wanted=4)
    gate = Gate(then=function)
    invoker = FakeInvoker(respond=gate)
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1, parallelization_factor=1)
    h.mappings.start()
    items = [f"job-{n}" for n in range(12)]
    for step in range(3):
        for item in items:
            h.put(item, step={"N": str(step)})
    assert gate.held.wait(10)  # the first batch is under way on the one lane
    status, answer = _update(h, {"ParallelizationFactor": 4})
    assert status == 202 and answer["ParallelizationFactor"] == 4 and _get(h)["ParallelizationFactor"] == 4
    gate.open()
    wait_for(lambda: sum(map(len, function.order.values())), lambda n: n == 36, timeout=30, interval=0.01,
             describe="every record processed")
    h.settle()
    assert len(invoker.calls) == 36  # none lost, none read twice
    assert function.most == 4 and not function.self_overlap
    assert all(steps == ["0", "1", "2"] for steps in function.order.values())


@pytest.mark.parametrize(("body", "named"), [
    ({"BatchSize": 0}, "BatchSize"),
    ({"BatchSize": 5, "ParallelizationFactor": 11}, "ParallelizationFactor"),  # nothing of it applied
    ({"MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds"),
    ({"MaximumRetryAttempts": -2}, "MaximumRetryAttempts"),
    ({"MaximumRecordAgeInSeconds": 30}, "MaximumRecordAgeInSeconds"),
    ({"BisectBatchOnFunctionError": "yes"}, "BisectBatchOnFunctionError"),
    ({"Enabled": 1}, "Enabled"),
    ({"FunctionResponseTypes": ["Everything"]}, "FunctionResponseTypes"),
    ({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}, "filter pattern"),
    ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::bucket"}}}, "arn:aws:s3:::bucket"),
    ({"DestinationConfig": {"OnSuccess": {"Destination": DESTINATION}}}, "OnSuccess"),
    ({"FunctionName": ""}, "FunctionName"),
    ({"TumblingWindowInSeconds": 30}, "TumblingWindowInSeconds"),
    ({"KMSKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k"}, "KMSKeyArn"),
    ({"StartingPosition": "TRIM_HORIZON"}, "StartingPosition"),
    ({"EventSourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/s"}, "EventSourceArn"),
])
def test_an_update_with_a_bad_or_unsupported_setting_is_refused_and_changes_nothing(
        harness_factory: Callable[..., Harness], body: dict[str, Any], named: str) -> None:
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1)
    h.mappings.start()
    before = _get(h)
    answer = h.mappings.intercept_update(*_call("PUT", _path(h), body))
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert named in json.loads(answer.get_data())["message"]
    assert _get(h) == before
    h.put("a")
    h.put("b")
    h.settle()
    assert [ids(c) for c in invoker.calls] == [["a"], ["b"]]  # still batches of one, to the same function


def test_an_update_that_is_not_a_json_object_is_refused(harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(FakeInvoker(), starting_position="LATEST")
    before = _get(h)
    for body in ([1, 2], "text"):
        answer = h.mappings.intercept_update(*_call("PUT", _path(h), body))
        assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert _get(h) == before


def test_reset_drops_the_records_held_and_a_batch_being_retried(harness_factory: Callable[..., Harness]) -> None:
    invoker = FakeInvoker(respond=lambda event: result(error="Boom") if ids(event) == ["a"] else result(None))
    h = harness_factory(invoker, starting_position="LATEST", batch_size=1)  # retried until the record expires
    h.mappings.start()
    h.put("a")
    h.put("b")  # held behind "a" in the shard
    wait_for(lambda: len(invoker.calls), lambda n: n >= 2, timeout=10, describe="a being retried")

    with WRITE_LOCK:  # as the engine's reset holds it: no record appended meanwhile
        dropped = h.mappings.reset()
        before = len(invoker.calls)

    assert dropped == 2
    h.put("c")
    wait_for(lambda: invoker.calls[before:], lambda calls: ["c"] in [ids(c) for c in calls], timeout=10,
             describe="the record written after the reset")
    h.settle()
    after = [ids(c) for c in invoker.calls[before:]]
    assert [i for i in after if i != ["a"]] == [["c"]] and after.count(["a"]) <= 1  # (one may have been running)
    assert h.failures == []


# --- batching window: invoked when the batch is full, the window expires or the payload reaches 6 MB ------------
def test_a_full_batch_is_invoked_before_its_batching_window_ends(harness_factory: Callable[..., Harness]) -> None:
    """"Polling and batching streams" (with-ddb.html): Lambda invokes once the batch size is met; the 300 s window
    (at real time) is not waited out."""
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=2, batching_window=300.0)
    h.mappings.start()
    h.put("a")
    h.put("b")
    wait_for(lambda: invoker.calls, bool, timeout=10, describe="the full batch invoked")
    assert [ids(c) for c in invoker.calls] == [["a", "b"]]


def test_a_batch_not_full_is_invoked_when_its_window_expires(table: tuple[Any, str, str]) -> None:
    invoker = FakeInvoker()
    h = Harness(table, invoker, clock=SandboxClock(scale=100), starting_position="LATEST", batch_size=10,
                batching_window=30.0)  # 0.3 s of wall time
    h.mappings.start()
    try:
        h.put("a")
        wait_for(lambda: invoker.calls, bool, timeout=10, describe="the batch invoked at the window's end")
        assert [ids(c) for c in invoker.calls] == [["a"]]
    finally:
        h.mappings.stop()


def test_a_batch_whose_payload_reaches_6_mb_is_invoked_at_once_within_6_mb(
        harness_factory: Callable[..., Harness]) -> None:
    """17 items of about 380 KB: the first 16 make a payload just under 6 MB, the 17th would pass it; Lambda
    invokes with the 16 before the window (300 s, BatchSize 100) ends."""
    invoker = FakeInvoker()
    h = harness_factory(invoker, starting_position="LATEST", batch_size=100, batching_window=300.0)
    h.mappings.start()
    for n in range(17):
        h.put(f"big-{n:02}", blob={"S": "x" * 380_000})
    wait_for(lambda: invoker.calls, bool, timeout=30, describe="the batch invoked at 6 MB")
    first = invoker.calls[0]
    assert ids(first) == [f"big-{n:02}" for n in range(16)]
    assert len(json.dumps(first)) <= 6 * 1024 * 1024


# --- record age and retention ------------------------------------------------------------------------------------
def test_every_record_of_a_batch_is_checked_for_age_and_only_the_expired_are_discarded(
        table: tuple[Any, str, str]) -> None:
    clock = SandboxClock()
    invoker = FakeInvoker()
    h = Harness(table, invoker, clock=clock, starting_position="TRIM_HORIZON", batch_size=10,
                maximum_record_age=60)
    h.put("old")
    clock.advance(120)
    h.put("new")
    h.mappings.start()
    try:
        wait_for(lambda: invoker.calls, bool, timeout=10, describe="the young record invoked")
        h.settle()
        assert [ids(c) for c in invoker.calls] == [["new"]]
        assert len(h.failures) == 1 and h.failures[0]["DDBStreamBatchInfo"]["batchSize"] == 1
        assert h.failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    finally:
        h.mappings.stop()


class Failing:
    """A function that always fails, each invocation with its own request id."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> Any:
        with self.lock:
            self.request_ids.append(f"req-{len(self.request_ids) + 1}")
            return result(error="Boom", request_id=self.request_ids[-1])


def test_a_record_that_ages_out_after_failed_attempts_goes_to_the_destination_with_the_failed_invocation(
        table: tuple[Any, str, str]) -> None:
    """"Retaining discarded records" (services-dynamodb-errors.html): the on-failure record names the failed
    invocation (requestId), its function error and how many times the batch was invoked."""
    clock = SandboxClock()
    function = Failing()
    invoker = FakeInvoker(respond=function)
    h = Harness(table, invoker, clock=clock, starting_position="LATEST", batch_size=1, maximum_record_age=60)
    h.mappings.start()
    try:
        h.put("a")
        wait_for(lambda: len(invoker.calls), lambda n: n >= 2, timeout=10, describe="the batch retried")
        clock.advance(120)
        wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
        h.settle()
        record = h.failures[0]
        assert record["requestContext"]["condition"] == "RecordAgeExceeded"
        assert record["requestContext"]["approximateInvokeCount"] == len(invoker.calls)
        assert record["requestContext"]["requestId"] == function.request_ids[-1]
        assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                             "functionError": "Unhandled"}
        assert h.decisions[-1][1] == "discard" and "older than 60 s" in h.decisions[-1][2]
    finally:
        h.mappings.stop()


def test_a_record_retried_without_end_leaves_the_stream_after_24_hours_of_sandbox_time(
        table: tuple[Any, str, str]) -> None:
    """The defaults (MaximumRetryAttempts and MaximumRecordAgeInSeconds -1) retry "until the record expires",
    and DynamoDB Streams keeps a record 24 hours (services-ddb-params.html): then it is discarded."""
    clock = SandboxClock()
    function = Failing()
    invoker = FakeInvoker(respond=function)
    h = Harness(table, invoker, clock=clock, starting_position="LATEST", batch_size=1)
    h.mappings.start()
    try:
        h.put("a")
        wait_for(lambda: len(invoker.calls), lambda n: n >= 2, timeout=10, describe="the batch retried")
        clock.advance(23 * 3600)
        calls = len(invoker.calls)
        wait_for(lambda: len(invoker.calls), lambda n: n > calls, timeout=10, describe="still retried at 23 h")
        assert h.failures == []
        clock.advance(3600 + 1)
        wait_for(lambda: h.failures, bool, timeout=10, describe="the on-failure record")
        h.settle()
        record = h.failures[0]
        assert record["requestContext"]["condition"] == "RecordAgeExceeded"
        assert record["requestContext"]["requestId"] == function.request_ids[-1]
        assert record["requestContext"]["approximateInvokeCount"] == len(invoker.calls)
        assert "left the stream after its 24 h retention" in h.decisions[-1][2]
    finally:
        h.mappings.stop()


# --- CreateEventSourceMapping's checks, in Lambda's error shape ------------------------------------------------
def _create(h: Harness, body: dict[str, Any]) -> tuple[int, dict[str, Any], str | None]:
    answer = h.mappings.intercept_create(*_call("POST", "/2015-03-31/event-source-mappings/", body))
    return answer.status_code, json.loads(answer.get_data()), answer.headers.get("x-amzn-ErrorType")


def test_a_second_mapping_of_one_function_and_stream_is_a_conflict_in_lambdas_shape(
        harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(FakeInvoker(), starting_position="LATEST")
    existing = h.mappings.pollers[0].config.uuid
    status, body, kind = _create(h, {"FunctionName": FUNCTION, "EventSourceArn": h.stream_arn,
                                     "StartingPosition": "LATEST"})
    assert (status, kind) == (409, "ResourceConflictException")
    assert body == {"Type": "User", "message": f'The event source arn (" {h.stream_arn} ") and function '
                                               f'(" consumer ") provided mapping already exists. Please update or '
                                               f"delete the existing mapping with UUID {existing}"}
    assert len(h.mappings.pollers) == 1


@pytest.mark.parametrize(("filters", "named"), [
    ([{"Pattern": json.dumps({"eventName": "INSERT"})}], "must be an object or a non-empty array"),
    ([{"Pattern": json.dumps({"eventName": []})}], "non-empty array"),
    ([{"Pattern": json.dumps({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">"]}]}}}})}], "numeric"),
    ([{"Pattern": json.dumps({"eventName": [{"regex": "I.*"}]})}], "unsupported content filter"),
    ([{"Pattern": json.dumps([1])}], "JSON object"),
    ([{"Pattern": "{"}], "Invalid filter pattern definition"),
    ([{"NotAPattern": "{}"}], "Pattern"),
    ([{"Pattern": json.dumps({"eventName": ["INSERT"]})}] * 6, "at most 5"),
    ([{"Pattern": json.dumps({"eventName": ["x" * 4100]})}], "less than or equal to 4096"),
])
def test_a_filter_criteria_lambda_refuses_is_refused_in_lambdas_shape(
        harness_factory: Callable[..., Harness], filters: list[dict[str, Any]], named: str) -> None:
    h = harness_factory(FakeInvoker(), starting_position="LATEST")
    status, body, kind = _create(h, {"FunctionName": "other", "EventSourceArn": h.stream_arn,
                                     "StartingPosition": "LATEST", "FilterCriteria": {"Filters": filters}})
    assert (status, kind) == (400, "InvalidParameterValueException")
    assert body["Type"] == "User" and named in body["message"]
    assert len(h.mappings.pollers) == 1
    answer = h.mappings.intercept_update(*_call("PUT", _path(h), {"FilterCriteria": {"Filters": filters}}))
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"


# --- throttles ------------------------------------------------------------------------------------------------------
class Throttling(FakeInvoker):
    """The Lambda service throttling every invocation while ``throttling`` is set (the function never runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.throttling = threading.Event()
        self.throttling.set()
        self.refused = 0

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> Any:
        if self.throttling.is_set():
            self.refused += 1
            raise AwsError("TooManyRequestsException", "Rate Exceeded.", 429)
        return super().invoke(function, payload, request_id)


def test_a_throttled_batch_is_retried_without_spending_a_retry_attempt(table: tuple[Any, str, str]) -> None:
    invoker = Throttling()
    h = Harness(table, invoker, starting_position="LATEST", batch_size=1, maximum_retry_attempts=0)
    h.mappings.start()
    try:
        h.put("a")
        wait_for(lambda: invoker.refused, lambda n: n >= 3, timeout=10, describe="the batch throttled thrice")
        assert h.failures == [] and invoker.calls == []
        assert all(d[1] == "retry" and "TooManyRequestsException" in d[2] for d in h.decisions)
        invoker.throttling.clear()
        wait_for(lambda: invoker.calls, bool, timeout=30, describe="the batch invoked once the throttle ends")
        h.settle()
        assert [ids(c) for c in invoker.calls] == [["a"]] and h.failures == []
    finally:
        h.mappings.stop()


def test_a_batch_throttled_past_its_maximum_record_age_is_discarded(table: tuple[Any, str, str]) -> None:
    clock = SandboxClock()
    invoker = Throttling()
    h = Harness(table, invoker, clock=clock, starting_position="LATEST", batch_size=1, maximum_record_age=60)
    h.mappings.start()
    try:
        h.put("a")
        wait_for(lambda: invoker.refused, bool, timeout=10, describe="the batch throttled")
        clock.advance(120)
        wait_for(lambda: h.failures, bool, timeout=30, describe="the on-failure record")
        assert invoker.calls == []
        assert h.failures[0]["requestContext"]["condition"] == "RecordAgeExceeded"
        assert h.failures[0]["requestContext"]["approximateInvokeCount"] == 0
    finally:
        h.mappings.stop()
