"""EventBridge's data plane in the engine: put events, rules and their targets, archives and replays.

moto is the control plane: it keeps the buses, rules (with their state and targets) and archives, whether the
template deployed them or a caller created them at run time (CreateEventBus, PutRule, PutTargets, EnableRule,
DisableRule, RemoveTargets, DeleteRule, CreateArchive, ...). Each event reads them there as it is delivered, so
what a caller changes applies to the next event, and template rules and run-time rules behave alike.

- Event envelope and matching: "Amazon EventBridge events" and "event patterns"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html), matching in
  ``jobkit.engine.services.events.patterns``. Only ENABLED rules with an event pattern deliver (a schedule rule
  has none). Targets and their input: ``jobkit.engine.services.events.targets``; each target is handed on
  through the engine's ``Destinations`` (EventBridge invokes Lambda targets asynchronously).
- Archive and replay: "Archiving and replaying events"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html): an archive keeps the events of its
  source bus that match its pattern (not replayed ones); StartReplay re-sends those whose time lies in
  [EventStartTime, EventEndTime] to the rules of the archive's own bus ("ReplayDestination": "You can replay
  events only to the event bus specified to create the archive",
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ReplayDestination.html), optionally only to
  FilterArns, each with ``replay-name`` set. ListReplays and CancelReplay answer as the API reference says
  (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListReplays.html,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CancelReplay.html): a replay can be cancelled
  while STARTING or RUNNING, then is CANCELLING until it stops, then CANCELLED.
- Archiving lags on AWS: "there may be a delay between an event being published to an event bus and the event
  arriving in the archive"; the page advises waiting 10 minutes before replaying, and DescribeArchive's
  EventCount and SizeBytes "have a delay of 24 hours to reconcile" (eb-archive.html, "Event delivery"). The
  engine archives at once unless ``JOBKIT_ARCHIVE_DELAY`` (seconds of the sandbox clock) is set: until then an
  archived event is neither counted nor replayable. Callers wait on EventCount, never on time.
- A replay works through its window ("A replay processes events to replay based on the time in the event, and
  replays them using 1 minute intervals ... EventLastReplayedTime indicates the time within the specified time
  range associated with the last event replayed",
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html): STARTING, then RUNNING
  with EventLastReplayedTime advancing, then COMPLETED with ReplayEndTime. Each state lasts a short step of the
  sandbox clock, so callers wait on DescribeReplay's State.
- Delivery failures: a target's RetryPolicy (MaximumRetryAttempts, MaximumEventAgeInSeconds; by default 185
  attempts over 24 hours, with exponential back off) and DeadLetterConfig ("Event retry policy and using
  dead-letter queues", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-event-delivery.html):
  retries wait on the sandbox clock; when they are spent the event goes to the SQS dead-letter queue with the
  documented message attributes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.destinations import Delivery, Destinations, service_of
from jobkit.engine.core.front_door import SettingError
from jobkit.engine.core.server import AwsCall, Interceptor, json_response
from jobkit.engine.core.service import moto_backends
from jobkit.engine.services.events import patterns, targets

REPLAY_STATES = ("STARTING", "RUNNING", "CANCELLING", "COMPLETED", "CANCELLED", "FAILED")
#: who manages the rule moto creates behind each archive; the archive itself is served here, not that rule
_ARCHIVE_RULE_OWNER = "prod.vhs.events.aws.internal"
#: a rule whose target is a bus that leads back to it would hand one event on for ever: stop after this many buses
MAX_BUS_HOPS = 8
_LIST_LIMIT = 100  # ListReplays' maximum Limit
ARCHIVE_DELAY_ENV = "JOBKIT_ARCHIVE_DELAY"
#: the longest archive delay the setting takes: a day, beyond the 10 minutes AWS advises waiting
MAX_ARCHIVE_DELAY = 86_400.0
#: how long (sandbox seconds) a replay stays in each step: STARTING, each minute of its window, before COMPLETED
REPLAY_STEP = 0.05
#: PutEvents: at most 10 entries, whose sizes ("Calculating PutEvents event entry size",
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html) add up to less than 256 KB
MAX_ENTRIES, MAX_ENTRIES_SIZE = 10, 256 * 1024
#: StartReplay's ReplayName (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html)
_REPLAY_NAME = re.compile(r"[\.\-_A-Za-z0-9]+")
_REPLAY_NAME_MAX = 64
#: a target's RetryPolicy by default ("How EventBridge retries delivering events")
DEFAULT_RETRY_ATTEMPTS, DEFAULT_EVENT_AGE = 185, 86_400
#: the first retry's delay (sandbox seconds); it doubles with each attempt, up to RETRY_MAX_DELAY
RETRY_FIRST_DELAY, RETRY_MAX_DELAY = 1.0, 300.0


def archive_delay_from_env(env: Mapping[str, str] | None = None) -> float:
    """Seconds of the sandbox clock before an archived event is counted and replayable (``JOBKIT_ARCHIVE_DELAY``,
    0 by default); SettingError naming it if unusable."""
    env = os.environ if env is None else env
    value = env.get(ARCHIVE_DELAY_ENV, "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ARCHIVE_DELAY):
        raise SettingError(f"{ARCHIVE_DELAY_ENV}={env[ARCHIVE_DELAY_ENV]!r}: use a number of seconds from 0 (archive "
                           f"at once) to {MAX_ARCHIVE_DELAY:.0f}")
    return seconds


class EventsError(Exception):
    """An error the API answers with (``__type`` and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Archived:
    time: float  # epoch seconds of the event's "time" (whole seconds)
    event: dict[str, Any]
    settles: float = 0.0  # the sandbox time from which it is counted and replayable


@dataclass
class Replay:
    name: str
    archive_arn: str
    destination_bus_arn: str
    start: float
    end: float
    filter_arns: list[str]
    description: str = ""
    state: str = "STARTING"
    started: float = 0.0
    ended: float | None = None
    last_replayed: float | None = None
    reason: str = ""
    events: list[Archived] = field(default_factory=list, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _bus_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _short(arn: str) -> str:
    """A target's name for the hop log: the function, queue, topic, log group or bus."""
    if ":log-group:" in arn:
        return arn.split(":log-group:", 1)[1].removesuffix(":*")
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


class EventsService:
    """Puts events on the buses moto keeps, delivers them to their rules' targets, archives and replays them."""

    def __init__(self, account: str, region: str, destinations: Destinations,
                 on_event: Callable[[str, str, dict[str, Any]], None] | None = None,
                 clock: SandboxClock | None = None, archive_delay: float = 0.0) -> None:
        """Registers the CloudWatch Logs deliverer on ``destinations`` (the other services register their own).
        ``archive_delay``: sandbox seconds before an archived event is counted and replayable."""
        self.account = account
        self.clock = clock or SandboxClock()
        self.archive_delay = archive_delay
        self._stop = threading.Event()  # set when the engine stops: retries and replays end their waits
        self.region = region
        self.destinations = destinations
        self.on_event = on_event  # (hop, where, event) for the hop log
        self.archives: dict[str, dict[str, Any]] = {}  # archive ARN -> {"name", "uuid", "events": [Archived]}
        self.replays: dict[str, Replay] = {}
        self._lock = threading.Lock()
        self._hops = threading.local()  # buses an event has crossed on this thread
        self._backends = get_backend("events")
        destinations.register("logs", targets.LogGroups(account, region).deliver)
        for archive in list(self._backend().archives.values()):  # archives made before the service started
            self._store(archive)

    def interceptors(self) -> dict[str, Interceptor]:
        """The EventBridge actions the engine serves itself, by action name."""
        return {"PutEvents": self.intercept_put_events, "PutTargets": self.intercept_put_targets,
                "StartReplay": self.intercept_start_replay, "DescribeReplay": self.intercept_describe_replay,
                "ListReplays": self.intercept_list_replays, "CancelReplay": self.intercept_cancel_replay,
                "DescribeArchive": self.intercept_describe_archive}

    def _backend(self) -> Any:
        """moto's events backend, looked up on every event (a moto reset replaces it) through the plain dicts
        under moto's own lookup, whose check of the account on each call costs as much as reading the rules."""
        regions = dict.get(self._backends, self.account)
        backend = dict.get(regions, self.region) if regions is not None else None
        return backend if backend is not None else self._backends[self.account][self.region]

    def _bus(self, name_or_arn: str, backend: Any = None) -> Any:
        """moto's bus of that name or ARN."""
        name = _bus_name(name_or_arn)
        bus = (backend or self._backend()).event_buses.get(name)
        if bus is None:
            raise EventsError("ResourceNotFoundException", f"Event bus {name} does not exist.")
        return bus

    def _hop(self, hop: str, where: str, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(hop, where, event)

    # --- put events -----------------------------------------------------------------------------------
    def envelope(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The event EventBridge makes of a PutEvents entry; ValueError if its Detail is not JSON. Its ``time``
        is the entry's Time ("If no time stamp is provided, the time stamp of the PutEvents call is used",
        https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html)."""
        given = entry.get("Time")
        # a caller's replay window is wall-clock time (see jobkit.engine.core.clock)
        now = _epoch(given) if given is not None else time.time()
        detail = entry.get("Detail", "{}")
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": entry.get("DetailType", ""),
            "source": entry.get("Source", ""), "account": self.account,
            "time": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region, "resources": list(entry.get("Resources", [])),
            "detail": json.loads(detail) if isinstance(detail, str) else detail,
        }

    def put_event(self, bus_name: str, event: dict[str, Any]) -> str:
        """Delivers one enveloped event on a bus: its archives, then its matching rules' targets."""
        backend = self._backend()
        bus = self._bus(bus_name, backend)
        crossed = getattr(self._hops, "crossed", 0)
        if crossed >= MAX_BUS_HOPS:
            self._hop("target failed", f"{bus.name}: dropped after crossing {crossed} buses (a loop of rules)", event)
            return str(event["id"])
        self._hops.crossed = crossed + 1
        try:
            self._hop("bus", bus.name, event)
            if "replay-name" not in event:  # replayed events are not archived again
                self._archive(backend, bus.name, event)
            self._deliver(bus, event, None)
        finally:
            self._hops.crossed = crossed
        return str(event["id"])

    def deliver(self, arn: str, delivery: Delivery) -> None:
        """The engine's deliverer for event buses. A delivery with a detail-type is a Lambda destination record,
        put on the bus in the envelope Lambda writes ("Capturing records of Lambda asynchronous invocations":
        source ``lambda``, the record as ``detail``); one without is an event a rule hands on from a bus, put on
        as it is."""
        bus = self._bus(arn)
        body = delivery.body if isinstance(delivery.body, dict) else json.loads(delivery.body)
        if delivery.detail_type:
            function_arn = str(body.get("requestContext", {}).get("functionArn", ""))
            body = self.envelope({"Source": "lambda", "DetailType": delivery.detail_type, "Detail": body,
                                  "Resources": [bus.arn, function_arn]})
        self.put_event(bus.name, body)

    def _archive(self, backend: Any, bus_name: str, event: dict[str, Any]) -> None:
        for archive in list(backend.archives.values()):
            if archive.event_bus_name != bus_name or archive.state != "ENABLED":
                continue
            pattern = archive.event_pattern.get_pattern()
            if pattern and not patterns.matches(pattern, event):
                continue
            archived = Archived(_epoch(event["time"]), event, self.clock.now() + self.archive_delay)
            with self._lock:
                self._store(archive)["events"].append(archived)
            self._hop("archive", archive.name, event)

    def _store(self, archive: Any) -> dict[str, Any]:
        """What this engine archived for moto's ``archive`` (a new archive of a deleted one's name starts empty).
        Called with the lock held."""
        store = self.archives.get(archive.arn)
        if store is None or store["uuid"] != archive.uuid:
            store = {"name": archive.name, "uuid": archive.uuid, "events": []}
            self.archives[archive.arn] = store
        return store

    def _deliver(self, bus: Any, event: dict[str, Any], only_rules: list[str] | None) -> None:
        for rule in list(bus.rules.values()):
            if rule.state != "ENABLED" or rule.managed_by == _ARCHIVE_RULE_OWNER:
                continue
            if only_rules is not None and rule.arn not in only_rules:
                continue
            pattern = rule.event_pattern.get_pattern()
            try:
                if not pattern or not patterns.matches(pattern, event):  # a schedule rule has no pattern
                    continue
            except patterns.PatternError as exc:
                self._hop("target failed", f"{rule.name}: its pattern is not served by the engine: {exc}", event)
                continue
            for target in list(rule.targets):
                self._to_target(rule, target, event)

    def _to_target(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        """Hands ``event``, shaped by the target's input, to the target. A failed delivery does not fail the
        others nor the PutEvents call (EventBridge delivers asynchronously); it is written on the hop log and
        retried by the target's RetryPolicy on a thread of its own, then dead-lettered (``_retry``)."""
        arn = str(target.get("Arn", ""))
        try:
            self._send(rule, target, event)
        except Exception as exc:
            self._hop("target failed", f"{rule.name} -> {_short(arn)}: {type(exc).__name__}: {exc}", event)
            received = self.clock.now()
            threading.Thread(target=self._retry, args=(rule.arn, rule.name, target, event, received, exc),
                             name=f"jobkit-events-retry-{_short(arn)}", daemon=True).start()

    def _send(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target.get("Arn", ""))
        service = service_of(arn)
        body = targets.payload(target, event, rule.arn, rule.name) if targets.shapes(target) else event
        if service == "events" and body is not event:  # a shaped input becomes the forwarded event's detail
            body = {**event, "detail": json.loads(body) if isinstance(body, str) else body}
        self._hop(f"rule -> {service}", _short(arn), event)
        self.destinations.send(arn, Delivery(body))

    def _retry(self, rule_arn: str, rule_name: str, target: dict[str, Any], event: dict[str, Any],
               received: float, error: Exception) -> None:
        """Retries a failed delivery with exponential back off on the sandbox clock until the target's
        RetryPolicy is spent (MaximumRetryAttempts, or the event older than MaximumEventAgeInSeconds), then
        sends it to the target's DeadLetterConfig queue, if any, else drops it ("How EventBridge retries
        delivering events", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html)."""
        policy = target.get("RetryPolicy") or {}
        attempts_allowed = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
        arn = str(target.get("Arn", ""))
        attempts, delay, condition = 0, RETRY_FIRST_DELAY, "MaximumRetryAttempts"
        rule = _RuleRef(rule_arn, rule_name)
        while attempts < attempts_allowed:
            if self.clock.now() + delay - received > max_age:
                condition = "MaximumEventAgeInSeconds"
                break
            if self.clock.wait(delay, self._stop):
                return
            attempts += 1
            try:
                self._send(rule, target, event)
                return
            except Exception as exc:
                error = exc
                self._hop("target failed", f"{rule_name} -> {_short(arn)}: retry {attempts}: "
                                           f"{type(exc).__name__}: {exc}", event)
            delay = min(delay * 2, RETRY_MAX_DELAY)
        self._dead_letter(rule_arn, target, event, error, attempts, condition)

    def _dead_letter(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any], error: Exception,
                     attempts: int, condition: str) -> None:
        """The undelivered event, as it is, to the target's dead-letter queue with the message attributes of
        "Using dead-letter queues to process undelivered events in EventBridge"
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): ERROR_CODE, ERROR_MESSAGE,
        EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS, RULE_ARN, TARGET_ARN."""
        arn = str(target.get("Arn", ""))
        queue = str((target.get("DeadLetterConfig") or {}).get("Arn") or "")
        if not queue:
            self._hop("target failed", f"{_short(rule_arn)} -> {_short(arn)}: dropped after {attempts} retries", event)
            return
        values = {"ERROR_CODE": getattr(error, "code", None) or type(error).__name__, "ERROR_MESSAGE": str(error),
                  "EXHAUSTED_RETRY_CONDITION": condition, "RETRY_ATTEMPTS": str(attempts),
                  "RULE_ARN": rule_arn, "TARGET_ARN": arn}
        attributes = {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
        try:
            self.destinations.send(queue, Delivery(event, attributes=attributes))
            self._hop("rule -> dead-letter queue", _short(queue), event)
        except Exception as exc:
            self._hop("target failed", f"dead-letter queue {_short(queue)}: {type(exc).__name__}: {exc}", event)

    # --- replay ---------------------------------------------------------------------------------------
    def settled(self, archive: Any) -> list[Archived]:
        """What an archive holds that is counted and replayable by now (the archive delay past)."""
        now = self.clock.now()
        with self._lock:
            return [a for a in self._store(archive)["events"] if a.settles <= now]

    def start_replay(self, name: str, archive_arn: str, start: float, end: float, destination: dict[str, Any],
                     description: str = "") -> Replay:
        if not name or len(name) > _REPLAY_NAME_MAX:
            raise EventsError("ValidationException", f"1 validation error detected: Value '{name}' at 'replayName' "
                                                     "failed to satisfy constraint: Member must have length "
                                                     + ("greater than or equal to 1" if not name else
                                                        f"less than or equal to {_REPLAY_NAME_MAX}"))
        if not _REPLAY_NAME.fullmatch(name):
            raise EventsError("ValidationException", f"1 validation error detected: Value '{name}' at 'replayName' "
                                                     "failed to satisfy constraint: Member must satisfy regular "
                                                     f"expression pattern: {_REPLAY_NAME.pattern}")
        archive_name = archive_arn.rsplit("/", 1)[-1]
        archive = self._backend().archives.get(archive_name)
        if archive is None:
            raise EventsError("ResourceNotFoundException", f"Archive {archive_name} does not exist.")
        bus = self._bus(str(destination.get("Arn", "")))
        if bus.name != _bus_name(archive.source_arn):
            raise EventsError("ValidationException", "Parameter Destination.Arn is not valid. Reason: Cross event "
                                                     "bus replay is not permitted.")
        if start >= end:
            raise EventsError("ValidationException", "Parameter EventEndTime is not valid. Reason: EventStartTime "
                                                     "must be before EventEndTime.")
        replay = Replay(name, archive.arn, bus.arn, start, end, list(destination.get("FilterArns") or []),
                        description=description, started=time.time())
        with self._lock:
            if name in self.replays:
                raise EventsError("ResourceAlreadyExistsException", f"Replay {name} already exists.")
            now = self.clock.now()
            replay.events = sorted((a for a in self._store(archive)["events"]
                                    if start <= a.time <= end and a.settles <= now), key=lambda a: a.time)
            self.replays[name] = replay
        threading.Thread(target=self._replay, args=(replay, bus), name=f"jobkit-replay-{name}", daemon=True).start()
        return replay

    def _replay(self, replay: Replay, bus: Any) -> None:
        try:
            self._replay_events(replay, bus)
        except Exception as exc:
            with self._lock:
                replay.state, replay.reason, replay.ended = "FAILED", f"{type(exc).__name__}: {exc}", time.time()
            raise

    def _replay_events(self, replay: Replay, bus: Any) -> None:
        """STARTING for a step, then RUNNING through the window a minute of event time at a time (a step each),
        EventLastReplayedTime following the events sent, then COMPLETED (or CANCELLED)."""
        self._step(replay)
        with self._lock:
            if replay.state == "STARTING":
                replay.state = "RUNNING"
        minute: int | None = None
        for archived in replay.events:
            if replay.state == "CANCELLING":
                break
            if minute is not None and int(archived.time // 60) != minute:
                self._step(replay)
                if replay.state == "CANCELLING":
                    break
            minute = int(archived.time // 60)
            event = {**archived.event, "replay-name": replay.name}
            self._hop("replay", replay.name, event)
            self._deliver(bus, event, replay.filter_arns or None)
            replay.last_replayed = archived.time
        if replay.state != "CANCELLING":
            self._step(replay)
        with self._lock:
            replay.ended = time.time()
            replay.state = "CANCELLED" if replay.state == "CANCELLING" else "COMPLETED"

    def cancel_replay(self, name: str) -> Replay:
        with self._lock:
            replay = self.replays.get(name)
            if replay is None:
                raise EventsError("ResourceNotFoundException", f"Replay {name} does not exist.")
            if replay.state not in ("STARTING", "RUNNING"):
                raise EventsError("IllegalStatusException", f"Replay {name} is not in a valid state for this "
                                                            "operation.")
            replay.state = "CANCELLING"
            replay.cancelled.set()
            return replay

    def _step(self, replay: Replay) -> None:
        """One step of a replay on the sandbox clock; a cancel or the engine stopping cuts it short."""
        if not self._stop.is_set():
            replay.cancelled.wait(self.clock.wall_seconds(REPLAY_STEP))

    def stop(self) -> None:
        """The engine stops: retries and replays end their waits."""
        self._stop.set()
        with self._lock:
            for replay in self.replays.values():
                replay.cancelled.set()

    def list_replays(self, name_prefix: str | None = None, state: str | None = None,
                     archive_arn: str | None = None) -> list[Replay]:
        """The replays, filtered by one of name prefix, state or archive ("Filter parameters are exclusive")."""
        if sum(value is not None for value in (name_prefix, state, archive_arn)) > 1:
            raise EventsError("ValidationException", "At most one filter is allowed for ListReplays. Use either : "
                                                     "State, EventSourceArn, or NamePrefix.")
        if state is not None and state not in REPLAY_STATES:
            raise EventsError("ValidationException", f"1 validation error detected: Value '{state}' at 'state' "
                                                     "failed to satisfy constraint: Member must satisfy enum value "
                                                     f"set: [{', '.join(REPLAY_STATES)}]")
        with self._lock:
            replays = list(self.replays.values())
        return [r for r in replays if (name_prefix is None or r.name.startswith(name_prefix))
                and (state is None or r.state == state) and (archive_arn is None or r.archive_arn == archive_arn)]

    def reset(self) -> dict[str, int]:
        """A sandbox reset: every archive emptied (moto's and this engine's record of its events) and every
        replay gone, a running one cancelled first (it stops before its next event). Buses, rules and archives
        stay."""
        with self._lock:
            events = sum(len(store["events"]) for store in self.archives.values())
            for store in self.archives.values():
                store["events"] = []
            replays = list(self.replays.values())
            for replay in replays:
                if replay.state in ("STARTING", "RUNNING"):
                    replay.state = "CANCELLING"
                    replay.cancelled.set()
            self.replays.clear()
        archives = 0
        for backend in moto_backends("events", self.account):
            archives += len(backend.archives)
            for archive in list(backend.archives.values()):
                archive.events.clear()
            backend.replays.clear()
        return {"archives": archives, "archivedEvents": events, "replays": len(replays)}

    # --- the HTTP actions the engine owns -----------------------------------------------------------------
    def intercept_put_events(self, request: Request, call: AwsCall) -> Response:
        """PutEvents (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html): 1 to 10
        entries whose sizes add up to less than 256 KB, else the whole call is refused."""
        entries = call.json().get("Entries")
        if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
            bound = ("greater than or equal to 1" if not entries else f"less than or equal to {MAX_ENTRIES}")
            return _error("ValidationException", "1 validation error detected: Value at 'entries' failed to "
                                                 f"satisfy constraint: Member must have length {bound}")
        if sum(entry_size(e) for e in entries if isinstance(e, dict)) >= MAX_ENTRIES_SIZE:
            return _error("ValidationException", "Total size of the entries in the request is over the limit.")
        results: list[dict[str, str]] = []
        for entry in entries:
            try:
                bus = self._bus(entry.get("EventBusName") or "default")
                event = self.envelope(entry)
            except EventsError as exc:
                results.append({"ErrorCode": exc.code, "ErrorMessage": exc.message})
                continue
            except ValueError:
                results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
                continue
            results.append({"EventId": self.put_event(bus.name, event)})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return json_response({"FailedEntryCount": failed, "Entries": results})

    def intercept_put_targets(self, request: Request, call: AwsCall) -> Response | None:
        """Refuses a target the engine cannot deliver as AWS would (``targets.check``), naming it; the others go
        on to moto, which stores them."""
        for target in call.json().get("Targets") or []:
            try:
                targets.check(target, self.destinations)
            except targets.InvalidTargetError as exc:
                return _error("ValidationException", str(exc))
        return None

    def intercept_start_replay(self, request: Request, call: AwsCall) -> Response:
        body = call.json()
        for key, member in (("ReplayName", "replayName"), ("EventSourceArn", "eventSourceArn"),
                            ("EventStartTime", "eventStartTime"), ("EventEndTime", "eventEndTime"),
                            ("Destination", "destination")):
            if body.get(key) is None:
                return _error("ValidationException", f"1 validation error detected: Value null at '{member}' "
                                                     "failed to satisfy constraint: Member must not be null")
        try:
            replay = self.start_replay(body["ReplayName"], body["EventSourceArn"], _epoch(body["EventStartTime"]),
                                       _epoch(body["EventEndTime"]), body["Destination"],
                                       description=body.get("Description", ""))
        except EventsError as exc:
            return _error(exc.code, exc.message)
        return json_response({"ReplayArn": self._replay_arn(replay.name), "State": "STARTING",
                              "StateReason": "Replay started", "ReplayStartTime": replay.started})

    def intercept_describe_replay(self, request: Request, call: AwsCall) -> Response:
        name = call.json().get("ReplayName", "")
        replay = self.replays.get(name)
        if replay is None:
            return _error("ResourceNotFoundException", f"Replay {name} does not exist.")
        document = self._replay_document(replay)
        document.update({"ReplayArn": self._replay_arn(replay.name), "Destination": {
            "Arn": replay.destination_bus_arn, **({"FilterArns": replay.filter_arns} if replay.filter_arns else {})}})
        if replay.description:
            document["Description"] = replay.description
        return json_response(document)

    def intercept_list_replays(self, request: Request, call: AwsCall) -> Response:
        body = call.json()
        limit, token = body.get("Limit", _LIST_LIMIT), body.get("NextToken")
        if not isinstance(limit, int) or not 1 <= limit <= _LIST_LIMIT:
            bound = "greater than or equal to 1" if isinstance(limit, int) and limit < 1 else (
                f"less than or equal to {_LIST_LIMIT}")
            return _error("ValidationException", f"1 validation error detected: Value '{limit}' at 'limit' failed to "
                                                 f"satisfy constraint: Member must have value {bound}")
        if token is not None and not (isinstance(token, str) and token.isdigit()):
            return _error("ValidationException", "The NextToken is not valid.")
        try:
            replays = self.list_replays(body.get("NamePrefix"), body.get("State"), body.get("EventSourceArn"))
        except EventsError as exc:
            return _error(exc.code, exc.message)
        offset = int(token or 0)
        page = replays[offset:offset + limit]
        document: dict[str, Any] = {"Replays": [self._replay_document(r) for r in page]}
        if offset + limit < len(replays):
            document["NextToken"] = str(offset + limit)
        return json_response(document)

    def intercept_cancel_replay(self, request: Request, call: AwsCall) -> Response:
        try:
            replay = self.cancel_replay(call.json().get("ReplayName", ""))
        except EventsError as exc:
            return _error(exc.code, exc.message)
        return json_response({"ReplayArn": self._replay_arn(replay.name), "State": "CANCELLING"})

    def intercept_describe_archive(self, request: Request, call: AwsCall) -> Response:
        """moto's description, with the event count and size of what this engine archived."""
        name = call.json().get("ArchiveName", "")
        archive = self._backend().archives.get(name)
        if archive is None:
            return _error("ResourceNotFoundException", f"Archive {name} does not exist.")
        document = dict(archive.describe())
        archived = self.settled(archive)
        document["EventCount"] = len(archived)
        document["SizeBytes"] = sum(len(json.dumps(a.event)) for a in archived)
        for key in ("CreationTime",):
            value = document.get(key)
            if isinstance(value, dt.datetime):
                document[key] = value.timestamp()
        return json_response(document)

    def _replay_document(self, replay: Replay) -> dict[str, Any]:
        """A replay as ListReplays lists it ("Replay" of the API reference); DescribeReplay adds to it."""
        document: dict[str, Any] = {
            "ReplayName": replay.name, "EventSourceArn": replay.archive_arn, "State": replay.state,
            "EventStartTime": replay.start, "EventEndTime": replay.end, "ReplayStartTime": replay.started,
        }
        if replay.reason:
            document["StateReason"] = replay.reason
        if replay.last_replayed is not None:
            document["EventLastReplayedTime"] = replay.last_replayed
        if replay.ended is not None:
            document["ReplayEndTime"] = replay.ended
        return document

    def _replay_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:replay/{name}"


@dataclass(frozen=True)
class _RuleRef:
    """A rule as a retry needs it (moto's rule may be changed or deleted while the retries wait)."""

    arn: str
    name: str


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as "Calculating PutEvents event entry size" counts it: 14 bytes for a Time, the
    UTF-8 bytes of Source, DetailType, Detail and each of Resources."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value is not None:
            size += len((value if isinstance(value, str) else json.dumps(value)).encode())
    return size + sum(len(str(r).encode()) for r in entry.get("Resources") or [])


def _error(code: str, message: str) -> Response:
    return json_response({"__type": code, "message": message}, 400)
