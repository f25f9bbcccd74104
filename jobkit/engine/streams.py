"""DynamoDB Streams event source mappings, with Lambda's semantics, driven by writes (never by polling).

A hook on moto's stream shard (``StreamShard.add``) corrects each new record to AWS's shape and wakes the
mappings of that stream. Each mapping is one thread that reads its shard in order ("Using AWS Lambda with
Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html; parameters:
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html):
- StartingPosition TRIM_HORIZON / LATEST; BatchSize; MaximumBatchingWindowInSeconds;
- FilterCriteria ("Lambda event filtering", https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html):
  records that match no filter are dropped, never sent;
- on a function error the batch is retried (MaximumRetryAttempts, -1 = until the record expires), and holds
  its shard meanwhile; BisectBatchOnFunctionError splits a failing batch (splits do not count as retries);
  MaximumRecordAgeInSeconds discards records older than that; ReportBatchItemFailures retries from the first
  reported failure ("Configuring partial batch response",
  https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html);
- a discarded batch's on-failure record (requestContext with condition RetryAttemptsExhausted or
  RecordAgeExceeded, responseContext, DDBStreamBatchInfo) goes to the SNS topic or SQS queue
  ("Retaining discarded records", https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.backends import get_backend
from moto.dynamodb.models.table import StreamShard

from jobkit.engine import patterns
from jobkit.engine.clock import SandboxClock
from jobkit.engine.deployer import StackRegistry
from jobkit.engine.lambda_service import Invoker
from jobkit.lambda_runtime.function import InvocationResult

# --- the hook on moto's stream -----------------------------------------------------------------------------
StreamListener = Callable[[StreamShard, Any], None]
_listeners: list[StreamListener] = []
_listeners_lock = threading.Lock()
_original_add = StreamShard.add


def _add_and_notify(self: StreamShard, old: Any, new: Any) -> None:
    _original_add(self, old, new)
    if self.items:
        with _listeners_lock:
            listeners = list(_listeners)
        for listener in listeners:
            try:
                listener(self, self.items[-1])
            except Exception:  # a listener's bug must never fail the write that moto already made
                logging.getLogger(__name__).exception("stream listener failed")


def add_stream_listener(listener: StreamListener) -> None:
    """Called after each record moto appends to any stream shard (installs the hook on first use)."""
    with _listeners_lock:
        StreamShard.add = _add_and_notify  # type: ignore[method-assign]
        _listeners.append(listener)


def remove_stream_listener(listener: StreamListener) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def correct_record(record: dict[str, Any], created: float, region: str) -> None:
    """moto's record -> AWS's (in place, so GetRecords answers the same): eventVersion 1.1, the region,
    ApproximateCreationDateTime in epoch seconds, SizeBytes of the record's data."""
    record["eventVersion"] = "1.1"
    record["awsRegion"] = region
    data = record["dynamodb"]
    data["ApproximateCreationDateTime"] = float(int(created))
    sized = {k: v for k, v in data.items() if k in ("Keys", "NewImage", "OldImage")}
    data["SizeBytes"] = len(json.dumps(sized, separators=(",", ":")))


# --- mappings ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MappingConfig:
    uuid: str
    function: str
    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    batching_window: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()
    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1
    bisect: bool = False
    report_batch_item_failures: bool = False
    on_failure: str | None = None
    enabled: bool = True

    @classmethod
    def from_properties(cls, mapping_id: str, props: dict[str, Any]) -> MappingConfig:
        filters = tuple(patterns.parse(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", []))
        return cls(
            uuid=mapping_id, function=props["FunctionName"], stream_arn=props["EventSourceArn"],
            starting_position=props.get("StartingPosition", "LATEST"),
            batch_size=int(props.get("BatchSize", 100)),
            batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            filters=filters,
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            maximum_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            on_failure=((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            enabled=bool(props.get("Enabled", True)),
        )


def mappings_from_registry(registry: StackRegistry) -> list[MappingConfig]:
    return [MappingConfig.from_properties(r.physical_id, r.properties)
            for r in registry.of_type("AWS::Lambda::EventSourceMapping")
            if ":dynamodb:" in str(r.properties.get("EventSourceArn", ""))]


@dataclass
class StreamEntry:
    """A record as the poller keeps it: the Lambda event record and its sandbox creation time (for ages; the
    record itself carries wall-clock time)."""

    index: int
    event: dict[str, Any]
    created: float


@dataclass
class Outcome:
    """What happened to one batch, for the hop log and tests."""

    records: list[StreamEntry]
    result: InvocationResult | None
    attempt: int
    discarded: str | None = None  # the on-failure condition when the batch was discarded


FailureSender = Callable[[str, dict[str, Any]], None]  # (destination ARN, on-failure record)


@dataclass
class StreamPoller:
    """One mapping: reads its shard in order and invokes its function."""

    config: MappingConfig
    invoker: Invoker
    clock: SandboxClock
    send_failure: FailureSender
    region: str
    account: str
    on_outcome: Callable[[MappingConfig, Outcome], None] | None = None
    _entries: list[StreamEntry] = field(default_factory=list)
    _position: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _busy: bool = False

    @property
    def table_name(self) -> str:
        return self.config.stream_arn.split(":table/", 1)[1].split("/", 1)[0]

    @property
    def shard(self) -> StreamShard:
        table = get_backend("dynamodb")[self.account][self.region].tables[self.table_name]
        shard = table.stream_shard
        if shard is None:
            raise LookupError(f"table {self.table_name} has no stream")
        return shard

    def start(self) -> None:
        shard = self.shard
        with self._cond:
            for index, item in enumerate(list(shard.items)):
                written = _created_at(item.record)
                correct_record(item.record, written, self.region)
                self._entries.append(self._entry(index, item.record, self.clock.sandbox_of(written)))
            if self.config.starting_position == "LATEST":
                self._position = len(self._entries)
        self._thread = threading.Thread(target=self._loop, name=f"jobkit-esm-{self.config.uuid[:8]}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def _entry(self, index: int, record: dict[str, Any], created: float) -> StreamEntry:
        event = copy.deepcopy(record)
        event["eventSourceARN"] = self.config.stream_arn
        return StreamEntry(index, event, created)

    def notify(self, shard: StreamShard, record: Any, created: float) -> None:
        """A record was appended to some shard (from the writer's thread): take it if it is ours."""
        if shard is not self.shard:
            return
        with self._cond:
            self._entries.append(self._entry(len(self._entries), record.record, created))
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._busy and self._position >= len(self._entries)

    # --- the shard's loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._stop.is_set() or self._position < len(self._entries))
                if self._stop.is_set():
                    return
                self._busy = True
            try:
                if self.config.batching_window > 0:
                    self.clock.wait(self.config.batching_window, self._stop)
                batch, next_position = self._next_batch()
                if batch:
                    self._process(batch)
                with self._cond:
                    self._position = next_position
            except Exception:  # the engine's own fault: report it, keep the shard, try again shortly
                if not self._stop.is_set():
                    traceback.print_exc()
                self._stop.wait(1.0)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next_batch(self) -> tuple[list[StreamEntry], int]:
        """Up to BatchSize records that pass the filters; records that pass none are dropped."""
        with self._cond:
            pending = self._entries[self._position:]
        batch: list[StreamEntry] = []
        position = self._position
        for entry in pending:
            if len(batch) >= self.config.batch_size:
                break
            position = entry.index + 1
            if not self.config.filters or any(patterns.matches(f, entry.event) for f in self.config.filters):
                batch.append(entry)
        return batch, position

    def _process(self, batch: list[StreamEntry]) -> None:
        parts = [batch]
        while parts and not self._stop.is_set():
            part = parts.pop(0)
            retries = 0
            invocations = 0
            while not self._stop.is_set():
                age_limit = self.config.maximum_record_age
                if age_limit != -1 and self.clock.now() - part[0].created > age_limit:
                    self._discard(part, "RecordAgeExceeded", None, invocations)
                    break
                result = self.invoker.invoke(self.config.function, json.dumps({"Records": [e.event for e in part]})
                                             .encode())
                invocations += 1
                failed_from = self._failed_from(part, result)
                if self.on_outcome is not None:
                    self.on_outcome(self.config, Outcome(part, result, invocations))
                if failed_from is None:
                    break
                if result.is_error and self.config.bisect and len(part) > 1:
                    middle = len(part) // 2
                    parts[:0] = [part[:middle], part[middle:]]
                    break
                part = part[failed_from:]
                if self.config.maximum_retry_attempts != -1 and retries >= self.config.maximum_retry_attempts:
                    self._discard(part, "RetryAttemptsExhausted", result, invocations)
                    break
                retries += 1
                # retries back off a little, so an infinitely retried batch does not spin
                if self.clock.wait(min(0.1 * 2 ** retries, 5.0), self._stop):
                    return

    def _failed_from(self, part: list[StreamEntry], result: InvocationResult) -> int | None:
        """None when the batch succeeded; else the index in ``part`` to retry from."""
        if result.is_error:
            return 0
        if not self.config.report_batch_item_failures:
            return None
        try:
            answer = result.json()
        except ValueError:
            return 0  # an unparseable response fails the whole batch
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures:
            return None
        numbers = [str(f.get("itemIdentifier", "")) for f in failures if isinstance(f, dict)]
        sequence = [e.event["dynamodb"]["SequenceNumber"] for e in part]
        found = [sequence.index(n) for n in numbers if n in sequence]
        if len(found) != len(numbers) or not found:
            return 0  # an unknown or empty identifier fails the whole batch, as Lambda does
        return min(found)

    def _discard(self, part: list[StreamEntry], condition: str, result: InvocationResult | None,
                 invocations: int) -> None:
        if self.on_outcome is not None:
            self.on_outcome(self.config, Outcome(part, result, invocations, discarded=condition))
        if self.config.on_failure:
            self.send_failure(self.config.on_failure, on_failure_record(
                self.config, part, condition, result, invocations, time.time(), self.shard.id,
                self.invoker.arn_of(self.config.function)))


def _created_at(record: dict[str, Any]) -> float:
    """A record's creation time, whether moto's (a naive UTC datetime) or already corrected (epoch)."""
    value = record["dynamodb"]["ApproximateCreationDateTime"]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float(value)


def _iso_seconds(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_failure_record(config: MappingConfig, part: list[StreamEntry], condition: str,
                      result: InvocationResult | None, invocations: int, now: float, shard_id: str,
                      function_arn: str) -> dict[str, Any]:
    """The record of a discarded batch, in the documented shape."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if result is not None and result.is_error:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": result.request_id if result is not None else str(uuid.uuid4()),
            "functionArn": function_arn, "condition": condition, "approximateInvokeCount": invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(now * 1000) % 1000:03d}Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": part[0].event["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": part[-1].event["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso_seconds(_created_at(part[0].event)),
            "approximateArrivalOfLastRecord": _iso_seconds(_created_at(part[-1].event)),
            "batchSize": len(part),
            "streamArn": config.stream_arn,
        },
    }


class StreamMappings:
    """Every stream mapping of the stack, woken by the shard hook."""

    def __init__(self, configs: list[MappingConfig], *, invoker: Invoker, clock: SandboxClock,
                 send_failure: FailureSender, account: str, region: str,
                 on_outcome: Callable[[MappingConfig, Outcome], None] | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.clock = clock
        self.region = region
        self.on_record = on_record
        self.pollers = [StreamPoller(c, invoker, clock, send_failure, region, account, on_outcome)
                        for c in configs if c.enabled]

    def _on_append(self, shard: StreamShard, item: Any) -> None:
        # the hook sees every moto stream of the process (other engines', tests' own mock_aws tables)
        table = getattr(getattr(shard, "table", None), "name", None)
        if table not in {poller.table_name for poller in self.pollers}:
            return
        created = self.clock.now()
        correct_record(item.record, time.time(), self.region)
        if self.on_record is not None:
            self.on_record(item.record)
        for poller in self.pollers:
            poller.notify(shard, item, created)

    def start(self) -> None:
        add_stream_listener(self._on_append)
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        remove_stream_listener(self._on_append)
        for poller in self.pollers:
            poller.stop()

    def idle(self) -> bool:
        return all(p.idle() for p in self.pollers)
