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
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.destinations import Delivery, Destinations, service_of
from jobkit.engine.core.server import AwsCall, Interceptor, json_response
from jobkit.engine.core.service import moto_backends
from jobkit.engine.services.events import patterns, targets

REPLAY_STATES = ("STARTING", "RUNNING", "CANCELLING", "COMPLETED", "CANCELLED", "FAILED")
#: who manages the rule moto creates behind each archive; the archive itself is served here, not that rule
_ARCHIVE_RULE_OWNER = "prod.vhs.events.aws.internal"
#: a rule whose target is a bus that leads back to it would hand one event on for ever: stop after this many buses
MAX_BUS_HOPS = 8
_LIST_LIMIT = 100  # ListReplays' maximum Limit


class EventsError(Exception):
    """An error the API answers with (``__type`` and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Archived:
    time: float  # epoch seconds of the event's "time" (whole seconds, wall clock)
    event: dict[str, Any]


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
                 on_event: Callable[[str, str, dict[str, Any]], None] | None = None) -> None:
        """Registers the CloudWatch Logs deliverer on ``destinations`` (the other services register their own)."""
        self.account = account
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
        """The event EventBridge makes of a PutEvents entry; ValueError if its Detail is not JSON."""
        now = time.time()  # a caller's replay window is wall-clock time (see jobkit.engine.core.clock)
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
            archived = Archived(_epoch(event["time"]), event)
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
        others nor the PutEvents call (EventBridge delivers asynchronously); it is written on the hop log."""
        arn = str(target.get("Arn", ""))
        service = service_of(arn)
        try:
            body = targets.payload(target, event, rule.arn, rule.name) if targets.shapes(target) else event
            if service == "events" and body is not event:  # a shaped input becomes the forwarded event's detail
                body = {**event, "detail": json.loads(body) if isinstance(body, str) else body}
            self._hop(f"rule -> {service}", _short(arn), event)
            self.destinations.send(arn, Delivery(body))
        except Exception as exc:
            self._hop("target failed", f"{rule.name} -> {_short(arn)}: {type(exc).__name__}: {exc}", event)

    # --- replay ---------------------------------------------------------------------------------------
    def start_replay(self, name: str, archive_arn: str, start: float, end: float, destination: dict[str, Any],
                     description: str = "") -> Replay:
        archive_name = archive_arn.rsplit("/", 1)[-1]
        archive = self._backend().archives.get(archive_name)
        if archive is None:
            raise EventsError("ResourceNotFoundException", f"Archive {archive_name} does not exist.")
        bus = self._bus(str(destination.get("Arn", "")))
        if bus.name != _bus_name(archive.source_arn):
            raise EventsError("ValidationException", "Parameter Destination.Arn is not valid. Reason: Cross event "
                                                     "bus replay is not permitted.")
        if start > end:
            raise EventsError("ValidationException", "Parameter EventEndTime is not valid. Reason: EventStartTime "
                                                     "must be before EventEndTime.")
        replay = Replay(name, archive.arn, bus.arn, start, end, list(destination.get("FilterArns") or []),
                        description=description, started=time.time())
        with self._lock:
            if name in self.replays:
                raise EventsError("ResourceAlreadyExistsException", f"Replay {name} already exists.")
            replay.events = [a for a in self._store(archive)["events"] if start <= a.time <= end]
            self.replays[name] = replay
        threading.Thread(target=self._replay, args=(replay,), name=f"jobkit-replay-{name}", daemon=True).start()
        return replay

    def _replay(self, replay: Replay) -> None:
        try:
            self._replay_events(replay)
        except Exception as exc:
            with self._lock:
                replay.state, replay.reason, replay.ended = "FAILED", f"{type(exc).__name__}: {exc}", time.time()
            raise

    def _replay_events(self, replay: Replay) -> None:
        with self._lock:
            if replay.state == "STARTING":
                replay.state = "RUNNING"
        bus = self._bus(replay.destination_bus_arn)
        for archived in replay.events:
            if replay.state == "CANCELLING":
                break
            event = {**archived.event, "replay-name": replay.name}
            self._hop("replay", replay.name, event)
            self._deliver(bus, event, replay.filter_arns or None)
            replay.last_replayed = archived.time
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
            return replay

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
        entries = call.json().get("Entries", [])
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
        with self._lock:
            archived = list(self._store(archive)["events"])
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


def _error(code: str, message: str) -> Response:
    return json_response({"__type": code, "message": message}, 400)
