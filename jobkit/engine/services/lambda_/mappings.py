"""DynamoDB Streams event source mappings, with Lambda's semantics, driven by writes (never by polling).

A hook on moto's stream shard (``StreamShard.add``) corrects each new record to AWS's shape and wakes the
mappings of that stream. Each mapping reads its shard in order ("Using AWS Lambda with Amazon DynamoDB",
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html; parameters:
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html):
- StartingPosition TRIM_HORIZON / LATEST; BatchSize; MaximumBatchingWindowInSeconds, which ends early once the
  batch is full or its payload reaches 6 MB (``MAX_PAYLOAD_BYTES``);
- ParallelizationFactor (1-10): up to that many batches of one shard are processed at once, records of one item
  (the same key) always in order, one after the other ("Parallelization factor" in with-ddb.html). Each mapping
  has that many lanes, one thread each; a record's lane is a hash of its key, so one item's records share one.
  LocalStack 4.x stores the setting and ignores it (``esm_config_factory.py`` defaults it, its stream poller
  reads each shard one batch at a time), so there the same stack runs one batch per shard;
- FilterCriteria ("Lambda event filtering", https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html):
  records that match no filter are dropped, never sent; a record is judged when its batch is formed, with the
  filters of that moment, so filters changed by UpdateEventSourceMapping judge every record not yet read;
- on a function error the batch is retried (MaximumRetryAttempts, -1 = until the record expires), and holds
  its shard meanwhile; BisectBatchOnFunctionError splits a failing batch (splits do not count as retries);
  MaximumRecordAgeInSeconds discards each record older than that, and a record retried past the stream's 24-hour
  retention (sandbox time) is discarded whatever the settings; ReportBatchItemFailures retries from the first
  reported failure ("Configuring partial batch response",
  https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html);
- a discarded batch's on-failure record (requestContext with condition RetryAttemptsExhausted or
  RecordAgeExceeded, responseContext, DDBStreamBatchInfo) goes to the SNS topic or SQS queue
  ("Retaining discarded records", https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html);
- UpdateEventSourceMapping ("UpdateEventSourceMapping",
  https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html) changes any of the settings
  above but the stream and the starting position, checked as CreateEventSourceMapping checks them; the mapping
  keeps its place in the shard and the next invocation uses them.
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
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.backends import get_backend
from moto.dynamodb.models.table import StreamShard
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.destinations import service_of
from jobkit.engine.core.errors import AwsError
from jobkit.engine.core.server import AwsCall
from jobkit.engine.moto.writes import WRITE_LOCK
from jobkit.engine.services.dynamodb import sizes
from jobkit.engine.services.events import patterns
from jobkit.engine.services.lambda_.errors import LambdaError, lambda_error, not_found
from jobkit.engine.services.lambda_.functions import Invoker, UnknownFunctionError
from jobkit.lambda_runtime.function import InvocationResult
from jobkit.lambda_runtime.report import log_timestamp

LOG = logging.getLogger(__name__)

# --- the hook on moto's stream -----------------------------------------------------------------------------
StreamListener = Callable[[StreamShard, Any], None]
_listeners: list[StreamListener] = []
_listeners_lock = threading.Lock()
#: the ``add`` the hook wraps: moto's, or moto's as the engine's moto patches left it (``jobkit.engine.moto``),
#: whichever is in place when the first listener comes
_inner_add: Callable[[StreamShard, Any, Any], None] = StreamShard.add
_hooked = False


def _add_and_notify(self: StreamShard, old: Any, new: Any) -> None:
    before = len(self.items)
    _inner_add(self, old, new)
    if len(self.items) > before:  # a write that changed nothing appends no record
        with _listeners_lock:
            listeners = list(_listeners)
        for listener in listeners:
            try:
                listener(self, self.items[-1])
            except Exception:  # a listener's bug must never fail the write that moto already made
                logging.getLogger(__name__).exception("stream listener failed")


def add_stream_listener(listener: StreamListener) -> None:
    """Called after each record moto appends to any stream shard (installs the hook on first use)."""
    global _inner_add, _hooked
    with _listeners_lock:
        if not _hooked:  # once: a moto patch installed later wraps the hook, and must not be wrapped by it
            _inner_add, _hooked = StreamShard.add, True
            StreamShard.add = _add_and_notify  # type: ignore[method-assign]
        _listeners.append(listener)


def remove_stream_listener(listener: StreamListener) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def correct_record(record: dict[str, Any], created: float, region: str) -> None:
    """moto's record -> AWS's (in place, so GetRecords answers the same): eventVersion 1.1, the region,
    ApproximateCreationDateTime in epoch seconds, SizeBytes by DynamoDB's item-size rules (``sizes``)."""
    record["eventVersion"] = "1.1"
    record["awsRegion"] = region
    data = record["dynamodb"]
    data["ApproximateCreationDateTime"] = float(int(created))
    data["SizeBytes"] = sizes.record_size(data)


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
    parallelization_factor: int = 1

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
            parallelization_factor=int(props.get("ParallelizationFactor", 1)),
        )

    def properties(self) -> dict[str, Any]:
        """The settings as CreateEventSourceMapping's request names them: ``from_properties``' inverse, so an
        update is the current settings with the request's over them."""
        return {
            "FunctionName": self.function, "EventSourceArn": self.stream_arn,
            "StartingPosition": self.starting_position, "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window,
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(f)} for f in self.filters]},
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "MaximumRecordAgeInSeconds": self.maximum_record_age, "BisectBatchOnFunctionError": self.bisect,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_batch_item_failures else [],
            "DestinationConfig": {"OnFailure": {"Destination": self.on_failure} if self.on_failure else {}},
            "Enabled": self.enabled, "ParallelizationFactor": self.parallelization_factor,
        }

    def updated(self, changes: dict[str, Any]) -> MappingConfig:
        return MappingConfig.from_properties(self.uuid, {**self.properties(), **changes})


@dataclass
class StreamEntry:
    """A record as the poller keeps it: the Lambda event record and its sandbox creation time (for ages; the
    record itself carries wall-clock time). ``index`` is its place in its lane, ``arrival`` its place in the
    shard as the poller saw it (lanes re-formed by a new ParallelizationFactor keep that order)."""

    index: int
    event: dict[str, Any]
    created: float
    arrival: int = 0
    _json: str | None = field(default=None, repr=False, compare=False)

    def json_text(self) -> str:
        """The record as it goes into the event, serialized once: it sizes the payload and is the payload."""
        if self._json is None:
            self._json = json.dumps(self.event)
        return self._json


def event_payload(part: list[StreamEntry]) -> bytes:
    """The invocation's event, ``{"Records": [...]}``, of the records' cached JSON."""
    return ('{"Records": [' + ", ".join(e.json_text() for e in part) + "]}").encode()


#: "Lambda invokes your function when one of the following is met: the batching window reaches its maximum
#: value, the batch size is met, or the payload size reaches 6 MB" ("Polling and batching streams",
#: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html); 6 MB is Lambda's invocation payload quota
#: ("Lambda quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_ENVELOPE_BYTES = len(event_payload([]))
#: "DynamoDB Streams stores the data for 24 hours" ("Data retention limit for DynamoDB Streams",
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html#Streams.DataRetention): a record
#: retried without end (MaximumRetryAttempts and MaximumRecordAgeInSeconds -1) "until the record expires"
#: ("Lambda parameters for Amazon DynamoDB event source mappings",
#: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html) leaves the stream then, on the sandbox clock
STREAM_RETENTION_SECONDS = 24 * 3600


@dataclass
class Outcome:
    """What happened to one batch, for the hop log and tests."""

    records: list[StreamEntry]
    result: InvocationResult | None
    attempt: int
    discarded: str | None = None  # the on-failure condition when the batch was discarded


FailureSender = Callable[[str, dict[str, Any]], None]  # (destination ARN, on-failure record)
#: (mapping, the batch, decision: retry, bisect or discard, what it was) for the job's trace
DecisionListener = Callable[[MappingConfig, list[StreamEntry], str, str], None]


@dataclass(eq=False)  # a lane is itself: "lane in _lanes" asks whether it is still one of the mapping's
class _Lane:
    """One of a mapping's ParallelizationFactor concurrent batch processors: the records whose key hashes to
    it, read in order, one batch at a time. ``wake`` is its own condition on the poller's lock: a record wakes
    only its lane's thread (every record of the stream reaches every mapping, so waking all lanes for each one
    made each write wake ParallelizationFactor threads per mapping)."""

    number: int
    wake: threading.Condition
    entries: list[StreamEntry] = field(default_factory=list)
    position: int = 0
    busy: bool = False
    thread: threading.Thread | None = None

    def pending(self) -> bool:
        return self.position < len(self.entries)


def lane_of(record: dict[str, Any], lanes: int) -> int:
    """The lane of a record: a stable hash of its key, so every record of one item goes to one lane."""
    if lanes == 1:
        return 0
    keys = json.dumps(record["dynamodb"]["Keys"], sort_keys=True, separators=(",", ":"))
    return zlib.crc32(keys.encode()) % lanes


@dataclass
class StreamPoller:
    """One mapping: reads its shard in order, in ParallelizationFactor lanes, and invokes its function.

    ``config`` is replaced whole by an update, never changed in place: each invocation reads it once, so an
    update reaches the next batch (or the next attempt of a batch being retried) and no batch mixes two."""

    config: MappingConfig
    invoker: Invoker
    clock: SandboxClock
    send_failure: FailureSender
    region: str
    account: str
    on_outcome: Callable[[MappingConfig, Outcome], None] | None = None
    on_decision: DecisionListener | None = None
    _lanes: list[_Lane] = field(default_factory=list)
    #: guards the lanes and the settings; each lane waits on its own condition of it (``_Lane.wake``)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stop: threading.Event = field(default_factory=threading.Event)
    #: set when the batches under way are to be dropped (the mapping stopped or the sandbox reset); a reset
    #: puts a new one in its place, for the records that come after it
    _halt: threading.Event = field(default_factory=threading.Event)
    _modified: float = field(default_factory=time.time)
    _shard: StreamShard | None = None  # the shard read since start: the table may go before a batch ends
    _function_gone: bool = False  # said once: the mapping's function was deleted
    _arrivals: int = 0  # records taken so far: the next one's ``arrival``
    _relane: bool = False  # a new ParallelizationFactor waits for the batches under way to end

    def __post_init__(self) -> None:
        self._lanes = self._new_lanes()

    def _new_lanes(self) -> list[_Lane]:
        return [_Lane(n, threading.Condition(self._lock)) for n in range(max(1, self.config.parallelization_factor))]

    def _wake_all(self) -> None:
        """Wakes every lane's thread (under ``_lock``): for what every lane waits on (the settings, a stop, a
        reset, new lanes)."""
        for lane in self._lanes:
            lane.wake.notify_all()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def reconfigure(self, config: MappingConfig) -> None:
        """UpdateEventSourceMapping's new settings, from the next batch on; the lanes keep their places.

        Enabled: a disabled mapping reads nothing new (batches under way finish) and, enabled again, goes on from
        where it stopped; records wait in the shard meanwhile. A new ParallelizationFactor re-forms the lanes once
        the batches under way have ended (none starts meanwhile): the records not yet read are dealt to the new
        lanes in shard order, so one item's records stay in order and none is lost or read twice."""
        with self._lock:
            if config.parallelization_factor != len(self._lanes):
                self._relane = True
            self.config, self._modified = config, time.time()
            self._relane_if_idle()
            self._wake_all()

    def _relane_if_idle(self) -> None:
        """Re-forms the lanes for a new ParallelizationFactor if one waits and no batch is under way (under
        ``_lock``), and wakes the old lanes' threads, which end (a lane no longer in ``_lanes`` ends its thread)."""
        if not self._relane or any(lane.busy for lane in self._lanes):
            return
        unread = sorted((e for lane in self._lanes for e in lane.entries[lane.position:]), key=lambda e: e.arrival)
        old, lanes = self._lanes, self._new_lanes()
        for entry in unread:
            lane = lanes[lane_of(entry.event, len(lanes))]
            lane.entries.append(StreamEntry(len(lane.entries), entry.event, entry.created, entry.arrival))
        self._lanes, self._relane = lanes, False
        for lane in old:
            lane.wake.notify_all()
        if self._shard is not None and not self._stop.is_set():  # started: the new lanes need their threads
            self._start_lanes()

    def state(self) -> str:
        """The mapping's State: Disabling while a batch started before the switch still runs."""
        with self._lock:
            if self.config.enabled:
                return "Enabled"
            return "Disabling" if any(lane.busy for lane in self._lanes) else "Disabled"

    def describe(self, function_arn: str) -> dict[str, Any]:
        """The mapping as the Lambda API describes it ("EventSourceMappingConfiguration",
        https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html)."""
        c = self.config
        document: dict[str, Any] = {
            **c.properties(), "UUID": c.uuid, "FunctionArn": function_arn,
            "EventSourceMappingArn": f"arn:aws:lambda:{self.region}:{self.account}:event-source-mapping:{c.uuid}",
            "MaximumBatchingWindowInSeconds": int(c.batching_window),
            "State": self.state(), "StateTransitionReason": "USER_INITIATED", "LastModified": self._modified,
            "LastProcessingResult": "No records processed",
        }
        for key in ("FunctionName", "Enabled"):  # request members, not the description's
            del document[key]
        if not c.filters:
            del document["FilterCriteria"]
        return document

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

    @property
    def _shard_id(self) -> str:
        assert self._shard is not None, "a batch is discarded only after start"
        return self._shard.id

    def start(self) -> None:
        shard = self.shard
        with self._lock:
            self._shard = shard
            for item in list(shard.items):
                written = _created_at(item.record)
                correct_record(item.record, written, self.region)
                self._take(item.record, self.clock.sandbox_of(written))
            if self.config.starting_position == "LATEST":
                for lane in self._lanes:
                    lane.position = len(lane.entries)
            self._start_lanes()

    def _start_lanes(self) -> None:
        for lane in self._lanes:
            if lane.thread is None:
                lane.thread = threading.Thread(target=self._loop, args=(lane,), daemon=True,
                                               name=f"jobkit-esm-{self.config.uuid[:8]}-{lane.number}")
                lane.thread.start()

    def stop(self, wait: bool = True) -> None:
        """No batch starts from now on; with ``wait``, until the lanes' threads end (a batch under way ends
        with its invocation)."""
        self._stop.set()
        with self._lock:
            self._halt.set()
            self._wake_all()
            lanes = list(self._lanes)
        for lane in lanes:
            if wait and lane.thread is not None:
                lane.thread.join(5)

    def _take(self, record: dict[str, Any], created: float) -> _Lane:
        """Appends a record to its lane (under ``_lock``) and returns the lane; the filters judge it when its batch
        is formed."""
        seen = {**record, "eventSourceARN": self.config.stream_arn}
        lane = self._lanes[lane_of(record, len(self._lanes))]
        lane.entries.append(StreamEntry(len(lane.entries), copy.deepcopy(seen), created, self._arrivals))
        self._arrivals += 1
        return lane

    def notify(self, shard: StreamShard, record: Any, created: float) -> None:
        """A record was appended to some shard (from the writer's thread): take it if it is ours, waking its
        lane alone (the others' records did not change)."""
        if shard is not self._shard:
            return
        with self._lock:
            self._take(record.record, created).wake.notify_all()

    def idle(self) -> bool:
        with self._lock:
            return not any(lane.busy or (self.config.enabled and lane.pending()) for lane in self._lanes)

    def reset(self) -> int:
        """Drops every record the mapping holds (a sandbox reset, the shard emptied with it): it reads on from
        the shard's new end. A batch under way is dropped too: its retries, on-failure record and position are
        forgotten (an invocation already running ends on its own). Returns how many records were dropped."""
        with self._lock:
            dropped = sum(len(lane.entries) - lane.position for lane in self._lanes)
            for lane in self._lanes:
                lane.entries, lane.position = [], 0
            self._halt.set()
            self._halt = threading.Event()
            self._wake_all()
        return dropped

    # --- a lane's loop ----------------------------------------------------------------------------------
    def _loop(self, lane: _Lane) -> None:
        while not self._stop.is_set():
            with self._lock:
                lane.wake.wait_for(lambda: self._stop.is_set() or lane not in self._lanes or (
                    self.config.enabled and not self._relane and lane.pending()))
                if self._stop.is_set() or lane not in self._lanes:
                    return
                lane.busy = True
                window = self.config.batching_window
                halt = self._halt
                if window > 0 and not self._batch_ready(lane):
                    # the window ends early once the batch is full or its payload reaches 6 MB
                    # (MAX_PAYLOAD_BYTES); each record appended wakes this wait (``notify``)
                    def ended(halt: threading.Event = halt, lane: _Lane = lane) -> bool:
                        return halt.is_set() or self._stop.is_set() or self._batch_ready(lane)

                    lane.wake.wait_for(ended, timeout=self.clock.wall_seconds(window))
            try:
                with self._lock:
                    if halt.is_set():  # reset during the window: the lane's records are others now
                        continue
                    batch, end = self._next_batch(lane)
                if batch:
                    self._process(batch, halt)
                with self._lock:
                    if not halt.is_set():
                        lane.position = end
            except UnknownFunctionError as exc:  # the function was deleted: the records wait, as on Lambda
                if not self._function_gone:
                    LOG.warning("mapping %s: %s; its records wait until the function exists again or the "
                                "mapping is deleted", self.config.uuid, exc)
                self._function_gone = True
                self._stop.wait(1.0)
            except Exception:  # the engine's own fault: report it, keep the shard, try again shortly
                if not self._stop.is_set():
                    traceback.print_exc()
                self._stop.wait(1.0)
            finally:
                with self._lock:
                    lane.busy = False
                    self._relane_if_idle()  # the one change of this lane's end that other lanes wait on

    def _passes(self, config: MappingConfig, entry: StreamEntry) -> bool:
        return not config.filters or any(patterns.matches(f, entry.event) for f in config.filters)

    def _batch_ready(self, lane: _Lane) -> bool:
        """Whether the lane's unread records fill a batch: BatchSize records that pass the filters, or a payload
        of MAX_PAYLOAD_BYTES (under ``_lock``)."""
        config = self.config
        count, size = 0, _ENVELOPE_BYTES
        for entry in lane.entries[lane.position:]:
            if self._passes(config, entry):
                count, size = count + 1, size + len(entry.json_text()) + 2
                if count >= config.batch_size or size >= MAX_PAYLOAD_BYTES:
                    return True
        return False

    def _next_batch(self, lane: _Lane) -> tuple[list[StreamEntry], int]:
        """The lane's next batch: up to BatchSize records from its position that pass the filters, with a
        payload of at most MAX_PAYLOAD_BYTES (one record at least), and the position after it (past the records
        the filters dropped; under ``_lock``)."""
        config = self.config
        batch: list[StreamEntry] = []
        end = lane.position
        size = _ENVELOPE_BYTES
        for entry in lane.entries[lane.position:]:
            if len(batch) == config.batch_size:
                break
            if self._passes(config, entry):
                grown = size + len(entry.json_text()) + 2
                if batch and grown > MAX_PAYLOAD_BYTES:
                    break
                batch.append(entry)
                size = grown
            end = entry.index + 1
        return batch, end

    def _process(self, batch: list[StreamEntry], halt: threading.Event) -> None:
        parts = [batch]
        while parts and not halt.is_set():
            part = parts.pop(0)
            retries = 0
            invocations = 0
            failed: InvocationResult | None = None  # the part's last failed invocation
            throttled = 0
            while not halt.is_set():
                config = self.config  # read once an attempt: an update reaches the next one
                expired, why = self._expired(config, part)
                if expired:
                    self._discard(config, expired, "RecordAgeExceeded", failed, invocations, why)
                    part = [e for e in part if all(e is not x for x in expired)]
                    if not part:
                        break
                try:
                    result = self.invoker.invoke(config.function, event_payload(part))
                except AwsError as refused:  # throttled: "Lambda retries until the records expire or exceed the
                    # maximum age" (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html)
                    throttled += 1
                    self._decided(config, part, "retry", f"throttled ({refused.code}), {len(part)} record(s)")
                    if self.clock.wait(min(0.1 * 2 ** min(throttled, 6), 5.0), halt):
                        return
                    continue
                self._function_gone = False
                if halt.is_set():  # dropped while the function ran: its outcome goes with it
                    return
                invocations += 1
                failed_from = self._failed_from(config, part, result)
                if self.on_outcome is not None:
                    self.on_outcome(config, Outcome(part, result, invocations))
                if failed_from is None:
                    break
                failed = result
                if result.is_error and config.bisect and len(part) > 1:
                    middle = len(part) // 2
                    self._decided(config, part, "bisect", f"{len(part)} records split into {middle} + "
                                                          f"{len(part) - middle}")
                    parts[:0] = [part[:middle], part[middle:]]
                    break
                part = part[failed_from:]
                if config.maximum_retry_attempts != -1 and retries >= config.maximum_retry_attempts:
                    self._discard(config, part, "RetryAttemptsExhausted", result, invocations)
                    break
                retries += 1
                self._decided(config, part, "retry", f"retry {retries} of "
                              f"{'unlimited' if config.maximum_retry_attempts == -1 else config.maximum_retry_attempts}"
                              f", {len(part)} record(s)")
                # retries back off a little, so an infinitely retried batch does not spin
                if self.clock.wait(min(0.1 * 2 ** retries, 5.0), halt):
                    return

    @staticmethod
    def _failed_from(config: MappingConfig, part: list[StreamEntry], result: InvocationResult) -> int | None:
        """None when the batch succeeded; else the index in ``part`` to retry from."""
        if result.is_error:
            return 0
        if not config.report_batch_item_failures:
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

    def _expired(self, config: MappingConfig, part: list[StreamEntry]) -> tuple[list[StreamEntry], str]:
        """The records of ``part`` Lambda no longer sends, each checked: older than MaximumRecordAgeInSeconds
        ("Discard records older than the specified age", "CreateEventSourceMapping",
        https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html), or gone from the stream
        after its 24-hour retention (STREAM_RETENTION_SECONDS), whatever the limit; and why, for the trace."""
        now = self.clock.now()
        limit = config.maximum_record_age
        aged = [e for e in part if limit != -1 and now - e.created > limit]
        gone = [e for e in part if now - e.created > STREAM_RETENTION_SECONDS and all(e is not a for a in aged)]
        if not aged and not gone:
            return [], ""
        why = (f"older than {limit} s" if aged else "") + (", " if aged and gone else "") + \
            ("left the stream after its 24 h retention" if gone else "")
        return sorted(aged + gone, key=lambda e: e.index), why

    def _decided(self, config: MappingConfig, part: list[StreamEntry], decision: str, detail: str) -> None:
        if self.on_decision is not None:
            self.on_decision(config, part, decision, detail)

    def _discard(self, config: MappingConfig, part: list[StreamEntry], condition: str,
                 result: InvocationResult | None, invocations: int, why: str = "") -> None:
        """Discards ``part``; ``result`` is its last failed invocation (its request id and function error go in
        the on-failure record), None when it was never invoked."""
        age = f" ({why})" if why else ""
        self._decided(config, part, "discard", f"{condition}{age} after {invocations} invocation(s), "
                                               f"{len(part)} record(s)")
        if self.on_outcome is not None:
            self.on_outcome(config, Outcome(part, result, invocations, discarded=condition))
        if not config.on_failure:
            return
        record = on_failure_record(config, part, condition, result, invocations, time.time(), self._shard_id,
                                   self.invoker.arn_of(config.function))
        try:
            self.send_failure(config.on_failure, record)
        except Exception as exc:  # any failure to deliver: the batch is discarded all the same
            # "If the error handling measures fail, Lambda discards the records and continues processing
            # batches from the stream" ("Retaining discarded records for a DynamoDB event source in Lambda",
            # https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html). Said in one line; the
            # lane moves on (re-running the batch would invoke its function again, without end).
            LOG.warning("mapping %s: the on-failure record of %d record(s) could not be sent to %s (%s: %s); "
                        "the batch is discarded", config.uuid, len(part), config.on_failure,
                        type(exc).__name__, exc)


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
        "timestamp": log_timestamp(now),
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
    """Every stream mapping of the sandbox, woken by the shard hook: the template's, built at start, and those
    created through the Lambda API while the engine runs (the same ``MappingConfig.from_properties``)."""

    def __init__(self, configs: list[MappingConfig], *, invoker: Invoker, clock: SandboxClock,
                 send_failure: FailureSender, account: str, region: str,
                 on_outcome: Callable[[MappingConfig, Outcome], None] | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 on_decision: DecisionListener | None = None) -> None:
        self.clock = clock
        self.on_decision = on_decision
        self.region = region
        self.account = account
        self.on_record = on_record
        self.on_outcome = on_outcome
        self.send_failure = send_failure
        self.invoker = invoker
        self.pollers = [self._poller_of(c) for c in configs]  # replaced, never changed in place: readers need no lock
        self._deleting: dict[str, StreamPoller] = {}
        self._lock = threading.Lock()
        self._api_lock = threading.Lock()  # Create and Update: a mapping's uniqueness is checked and kept in one step
        self._stopping: list[threading.Thread] = []

    def _poller_of(self, config: MappingConfig) -> StreamPoller:
        return StreamPoller(config, self.invoker, self.clock, self.send_failure, self.region, self.account,
                            self.on_outcome, self.on_decision)

    def _on_append(self, shard: StreamShard, item: Any) -> None:
        # the hook sees every moto stream of the process (other engines', tests' own mock_aws tables)
        pollers = self.pollers
        table = getattr(getattr(shard, "table", None), "name", None)
        if table not in {poller.table_name for poller in pollers}:
            return
        created = self.clock.now()
        correct_record(item.record, time.time(), self.region)
        if self.on_record is not None:
            self.on_record(item.record)
        for poller in pollers:
            poller.notify(shard, item, created)

    def start(self) -> None:
        add_stream_listener(self._on_append)
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        remove_stream_listener(self._on_append)
        with self._lock:
            pollers, deleting, stopping = list(self.pollers), list(self._deleting.values()), list(self._stopping)
        for poller in pollers + deleting:
            poller.stop(wait=False)
        for poller in pollers:
            poller.stop()
        for thread in stopping:
            thread.join(5)

    def idle(self) -> bool:
        return all(p.idle() for p in self.pollers)

    def reset(self) -> int:
        """Every mapping reads on from its shard's new end, holding no record (a sandbox reset; the caller holds
        ``WRITE_LOCK``, so no record is appended meanwhile). Returns how many records were dropped."""
        return sum(poller.reset() for poller in self.pollers)

    # --- mappings created and deleted while the engine runs ----------------------------------------------------
    def add(self, config: MappingConfig) -> StreamPoller:
        """A new mapping, reading from now on. Its start (the records it sees as already there) and its joining
        the pollers the shard hook wakes are one step between two writes, so no record is missed or seen twice."""
        poller = self._poller_of(config)
        with WRITE_LOCK, self._lock:
            poller.start()
            self.pollers = [*self.pollers, poller]
        return poller

    def remove(self, mapping_id: str) -> StreamPoller | None:
        """Stops a mapping: no batch starts from now on; it is described as Deleting until a batch under way
        has ended, then it is gone."""
        with self._lock:
            poller = next((p for p in self.pollers if p.config.uuid == mapping_id), None)
            if poller is None:
                return None
            self.pollers = [p for p in self.pollers if p is not poller]
            self._deleting[mapping_id] = poller
        poller.stop(wait=False)

        def finish() -> None:
            poller.stop()
            with self._lock:
                self._deleting.pop(mapping_id, None)

        thread = threading.Thread(target=finish, name=f"jobkit-esm-delete-{mapping_id[:8]}", daemon=True)
        with self._lock:
            self._stopping = [t for t in self._stopping if t.is_alive()]
            self._stopping.append(thread)
        thread.start()
        return poller

    # --- the Lambda API's view of the mappings --------------------------------------------------------------
    def intercept_create(self, request: Request, call: AwsCall) -> Response:
        """CreateEventSourceMapping on a DynamoDB stream, with every setting a template's mapping has; any other
        event source, setting or destination is refused naming it, never stored and ignored."""
        body = _body(call)
        if body is None:
            return lambda_error("InvalidRequestContentException", "Could not parse request body into json")
        try:
            props = self._create_properties(body)
            function_arn = self.invoker.arn_of(str(props["FunctionName"]))
        except LambdaError as exc:
            return exc.response()
        except UnknownFunctionError as exc:
            return not_found(str(exc))
        with self._api_lock:
            conflict = self._conflict(str(props["EventSourceArn"]), function_arn, None)
            if conflict is not None:
                return conflict
            poller = self.add(MappingConfig.from_properties(str(uuid.uuid4()),
                                                            {**props, "FunctionName": function_arn}))
        document = poller.describe(function_arn)
        document["State"] = "Creating"  # as CreateEventSourceMapping answers; Get says Enabled from now on
        return _json(document, 202)

    def _conflict(self, stream: str, function_arn: str, updating: str | None) -> Response | None:
        """The refusal of a second mapping of one stream to one function (Lambda's ResourceConflictException)."""
        for poller in self.pollers:
            if poller.config.uuid != updating and poller.config.stream_arn == stream and \
                    self._function_arn(poller) == function_arn:
                return lambda_error("ResourceConflictException",
                                    f'The event source arn (" {stream} ") and function '
                                    f'(" {function_arn.rsplit(":", 1)[-1]} ") provided mapping already exists. Please '
                                    f"update or delete the existing mapping with UUID {poller.config.uuid}")
        return None

    def intercept_delete(self, request: Request, call: AwsCall) -> Response:
        poller = self.remove(_mapping_id(request.path))
        if poller is None:
            return _not_found(request.path)
        document = poller.describe(self.invoker.arn_of(poller.config.function))
        document["State"] = "Deleting"
        return _json(document, 202)

    def intercept_get(self, request: Request, call: AwsCall) -> Response:
        poller, state = self._described(request.path)
        if poller is None:
            return _not_found(request.path)
        return _json(self._describe(poller, state))

    def intercept_list(self, request: Request, call: AwsCall) -> Response:
        """ListEventSourceMappings, narrowed by FunctionName (name or ARN) and EventSourceArn as AWS does."""
        function, source = request.args.get("FunctionName"), request.args.get("EventSourceArn")
        found = []
        with self._lock:
            listed = [(p, None) for p in self.pollers] + [(p, "Deleting") for p in self._deleting.values()]
        for poller, state in listed:
            arn = self._function_arn(poller)
            if function and function not in (arn, arn.rsplit(":", 1)[-1], poller.config.function):
                continue
            if source and source != poller.config.stream_arn:
                continue
            found.append(self._describe(poller, state))
        return _json({"EventSourceMappings": found})

    def intercept_update(self, request: Request, call: AwsCall) -> Response:
        """UpdateEventSourceMapping ("UpdateEventSourceMapping",
        https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html): any setting of a DynamoDB
        stream mapping but its stream and starting position, checked as CreateEventSourceMapping checks them; a
        refusal changes nothing. The mapping keeps its place in the shard; the next batch uses the new settings.
        Answered 202 with the mapping and the State of the transition: Enabling or Disabling when Enabled
        switches, else Updating ("State" in
        https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html)."""
        poller = self._poller(request.path)
        if poller is None:
            return _not_found(request.path)
        update = _body(call)
        if update is None:
            return lambda_error("InvalidRequestContentException", "Could not parse request body into json")
        try:
            self._check_settings(update, _UPDATE_SETTINGS)
            if "FunctionName" in update:
                update["FunctionName"] = self.invoker.arn_of(update["FunctionName"])
        except LambdaError as exc:
            return exc.response()
        except UnknownFunctionError as exc:
            return not_found(str(exc))
        with self._api_lock:
            config = poller.config.updated(update)
            if "FunctionName" in update:
                conflict = self._conflict(config.stream_arn, config.function, config.uuid)
                if conflict is not None:
                    return conflict
            was_enabled = poller.enabled
            poller.reconfigure(config)
        document = poller.describe(self._function_arn(poller))
        if config.enabled != was_enabled:
            document["State"] = "Enabling" if config.enabled else "Disabling"
        else:
            document["State"] = "Updating"  # Get says the steady state from now on
        return _json(document, 202)

    def _poller(self, path: str) -> StreamPoller | None:
        return next((p for p in self.pollers if p.config.uuid == _mapping_id(path)), None)

    def _described(self, path: str) -> tuple[StreamPoller | None, str | None]:
        poller = self._poller(path)
        if poller is not None:
            return poller, None
        with self._lock:
            return self._deleting.get(_mapping_id(path)), "Deleting"

    def _function_arn(self, poller: StreamPoller) -> str:
        """The mapping's function ARN, also once the function itself was deleted."""
        try:
            return self.invoker.arn_of(poller.config.function)
        except UnknownFunctionError:
            name = poller.config.function
            return name if name.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def _describe(self, poller: StreamPoller, state: str | None) -> dict[str, Any]:
        document = poller.describe(self._function_arn(poller))
        if state is not None:
            document["State"] = state
        return document

    def _create_properties(self, body: dict[str, Any]) -> dict[str, Any]:
        """CreateEventSourceMapping's request, checked: the properties of ``MappingConfig.from_properties``."""
        source = str(body.get("EventSourceArn") or "")
        if not body.get("FunctionName"):
            raise LambdaError("InvalidParameterValueException", "FunctionName is required")
        if service_of(source) != "dynamodb":
            raise LambdaError("InvalidParameterValueException",
                              f"The event source {source or '(none)'} is not supported by jobkit's engine: it runs "
                              "mappings of DynamoDB streams only (arn:aws:dynamodb:...:table/<name>/stream/<label>)")
        self._check_stream(source)
        self._check_settings(body, _CREATE_SETTINGS)
        if body.get("StartingPosition") not in ("TRIM_HORIZON", "LATEST"):
            raise LambdaError("InvalidParameterValueException",
                              "StartingPosition must be TRIM_HORIZON or LATEST for a DynamoDB stream, got "
                              f"{body.get('StartingPosition')!r}")
        return dict(body)

    @classmethod
    def _check_settings(cls, body: dict[str, Any], allowed: frozenset[str]) -> None:
        """The settings of a Create or Update request, each checked as Lambda checks it for a DynamoDB stream:
        a key outside ``allowed`` is refused, naming it."""
        fixed = sorted(set(body) & (_CREATE_SETTINGS - allowed))
        if fixed:
            raise LambdaError("InvalidParameterValueException",
                              f"A mapping's {fixed} cannot be updated: create a new mapping to change them")
        unknown = sorted(set(body) - _CREATE_SETTINGS)
        if unknown:
            raise LambdaError("InvalidParameterValueException",
                              f"jobkit's engine does not run these settings of a DynamoDB stream mapping: {unknown}")
        if "FunctionName" in body and (not isinstance(body["FunctionName"], str) or not body["FunctionName"]):
            raise LambdaError("InvalidParameterValueException",
                              f"FunctionName must be a function's name or ARN, got {body['FunctionName']!r}")
        for key, low, high in _RANGES:
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise LambdaError("InvalidParameterValueException",
                                      f"{key} must be an integer from {low} to {high}, got {value!r}")
        age = body.get("MaximumRecordAgeInSeconds", -1)
        if age != -1 and age < 60:
            raise LambdaError("InvalidParameterValueException",
                              f"MaximumRecordAgeInSeconds must be -1 (no limit) or at least 60, got {age}")
        for key in ("Enabled", "BisectBatchOnFunctionError"):
            if key in body and not isinstance(body[key], bool):
                raise LambdaError("InvalidParameterValueException", f"{key} must be true or false")
        types = body.get("FunctionResponseTypes", [])
        if not isinstance(types, list) or set(types) - {"ReportBatchItemFailures"}:
            raise LambdaError("InvalidParameterValueException",
                              f"FunctionResponseTypes may hold ReportBatchItemFailures only, got {types!r}")
        cls._check_filters(body.get("FilterCriteria"))
        cls._check_destination(body.get("DestinationConfig"))

    def _check_stream(self, source: str) -> None:
        """The stream must be a table's current stream ("Stream not found" otherwise, as Lambda says)."""
        table_name = source.split(":table/", 1)[-1].split("/", 1)[0]
        table = get_backend("dynamodb")[self.account][self.region].tables.get(table_name)
        if table is None or table.stream_shard is None or \
                source != f"{table.table_arn}/stream/{table.latest_stream_label}":
            raise LambdaError("InvalidParameterValueException", f"Stream not found: {source}")

    @staticmethod
    def _check_filters(criteria: Any) -> None:
        """FilterCriteria: ``{"Filters": [{"Pattern": "<JSON>"}]}``, each pattern one the engine's filtering
        reads ("Lambda event filtering"); ``{}`` has none (Filters is optional, "FilterCriteria",
        https://docs.aws.amazon.com/lambda/latest/api/API_FilterCriteria.html), so an update with it removes them."""
        if criteria is None:
            return
        filters = criteria.get("Filters", []) if isinstance(criteria, dict) else None
        if not isinstance(filters, list):
            raise LambdaError("InvalidParameterValueException",
                              'FilterCriteria must be {"Filters": [{"Pattern": ...}]}')
        if len(filters) > MAX_FILTERS:
            raise LambdaError("InvalidParameterValueException",
                              f"FilterCriteria holds {len(filters)} filters; an event source mapping has at most "
                              f"{MAX_FILTERS}")
        for entry in filters:
            text = entry.get("Pattern") if isinstance(entry, dict) else None
            if isinstance(text, str) and len(text) > MAX_PATTERN_LENGTH:
                raise LambdaError("InvalidParameterValueException",
                                  f"1 validation error detected: Value at 'filterCriteria.filters.member.pattern' "
                                  f"failed to satisfy constraint: Member must have length less than or equal to "
                                  f"{MAX_PATTERN_LENGTH}")
            try:
                if not isinstance(text, str):
                    raise patterns.PatternError('each filter is {"Pattern": "<a JSON object>"}')
                _check_pattern(patterns.parse(text))
            except (ValueError, TypeError, KeyError) as exc:  # PatternError, JSON's errors, a malformed operator
                raise LambdaError("InvalidParameterValueException",
                                  f"Invalid filter pattern definition. ({exc})") from None

    @staticmethod
    def _check_destination(config: Any) -> None:
        """A DynamoDB stream mapping has an on-failure destination only: an SNS topic or an SQS queue here
        ("Retaining discarded records for a DynamoDB event source in Lambda",
        https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html, lists SNS, SQS, S3 and
        Kafka; the engine delivers to SNS and SQS)."""
        if config is None:
            return
        if not isinstance(config, dict) or set(config) - {"OnFailure"}:
            raise LambdaError("InvalidParameterValueException",
                              "Unsupported DestinationConfig parameter for a DynamoDB stream mapping: only OnFailure "
                              f"is, got {sorted(config) if isinstance(config, dict) else config!r}")
        destination = (config.get("OnFailure") or {}).get("Destination") or ""
        if destination and service_of(destination) not in ON_FAILURE_DESTINATIONS:
            where = "S3 (which jobkit's engine does not deliver to)" if service_of(destination) == "s3" else \
                service_of(destination) or "not an ARN"
            raise LambdaError("InvalidParameterValueException",
                              f"The on-failure destination {destination} is not supported for a DynamoDB stream "
                              f"mapping: {where}; use an SNS topic or an SQS queue")


#: what CreateEventSourceMapping may set on a DynamoDB stream mapping here: every setting a template's mapping has
_CREATE_SETTINGS = frozenset({
    "FunctionName", "EventSourceArn", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "StartingPosition",
    "ParallelizationFactor", "FilterCriteria", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError", "FunctionResponseTypes", "DestinationConfig",
})
#: what UpdateEventSourceMapping may change: all but the stream and where reading started
#: ("UpdateEventSourceMapping", Request Parameters, https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html)
_UPDATE_SETTINGS = _CREATE_SETTINGS - {"EventSourceArn", "StartingPosition"}
#: the settings' ranges for a DynamoDB stream ("CreateEventSourceMapping", Request Parameters,
#: https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html)
_RANGES = (("BatchSize", 1, 10_000), ("MaximumBatchingWindowInSeconds", 0, 300), ("ParallelizationFactor", 1, 10),
           ("MaximumRetryAttempts", -1, 10_000), ("MaximumRecordAgeInSeconds", -1, 604_800))
#: "Filter criteria per event source mapping": 5 ("Lambda quotas",
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; raised on request, which a sandbox has
#: no way to ask); a Pattern is at most 4096 characters ("Filter", https://docs.aws.amazon.com/lambda/latest/api/API_Filter.html)
MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096
#: probes for a rule's operator: the matcher refuses an operator it does not know on a value it compares
_PROBES: tuple[Any, ...] = ("", 0)


def _check_pattern(pattern: dict[str, Any]) -> None:
    """A filter pattern's syntax ("Filter rule syntax",
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html#filtering-syntax): every field an
    object of further fields or a non-empty array of rules, each rule a value or one comparison operator the
    matcher (``events.patterns``) serves. Raises ``PatternError``."""
    for key, rule in pattern.items():
        if isinstance(rule, dict):
            _check_pattern(rule)
            continue
        if not isinstance(rule, list) or not rule:
            raise patterns.PatternError(f"the value of {key!r} must be an object or a non-empty array of rules, "
                                        f"got {rule!r}")
        for each in rule:
            if isinstance(each, list):
                raise patterns.PatternError(f"a rule of {key!r} is a value or an operator, got an array {each!r}")
            for probe in _PROBES:
                patterns.matches({key: [each]}, {key: probe})


#: where a discarded batch's record may go, and the engine delivers
ON_FAILURE_DESTINATIONS = ("sns", "sqs")


def _mapping_id(path: str) -> str:
    """The UUID at the end of ``/2015-03-31/event-source-mappings/{UUID}``."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def _body(call: AwsCall) -> dict[str, Any] | None:
    """The request's JSON object, or None when it is not one."""
    try:
        body = call.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def _not_found(path: str) -> Response:
    return not_found(f"The resource you requested does not exist. (mapping {_mapping_id(path)})")
