"""EventBridge's data plane in the engine: put events, rules with Lambda and CloudWatch Logs targets, the
archive and replay. moto keeps buses, rules and archives as resources (control plane); events flow here.

- Event envelope and matching: "Amazon EventBridge events" and "event patterns"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html), matching in
  ``jobkit.engine.services.events.patterns``. EventBridge invokes Lambda targets asynchronously.
- Archive and replay: "Archiving and replaying events"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html): an archive keeps the events of its
  source bus that match its pattern; StartReplay re-sends those whose time lies in [EventStartTime,
  EventEndTime] to the destination bus's rules (optionally FilterArns), each with ``replay-name`` set.
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

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.server import AwsCall, json_response
from jobkit.engine.services.cloudformation.deployer import StackRegistry
from jobkit.engine.services.events import patterns
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker


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
    state: str = "STARTING"
    started: float = 0.0
    ended: float | None = None
    last_replayed: float | None = None
    reason: str = ""


@dataclass
class Bus:
    name: str
    arn: str
    rules: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arn", "pattern", "targets", "state"}
    archives: list[str] = field(default_factory=list)


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class EventsService:
    """Buses from the template (and the default bus), their rules, archives and replays."""

    def __init__(self, registry: StackRegistry, async_invoker: AsyncInvoker, clock: SandboxClock,
                 on_event: Callable[[str, str, dict[str, Any]], None] | None = None) -> None:
        self.account = registry.account
        self.region = registry.region
        self.async_invoker = async_invoker
        self.clock = clock
        self.on_event = on_event  # (hop, where, event) for the hop log
        self.buses: dict[str, Bus] = {}
        self.archives: dict[str, dict[str, Any]] = {}  # arn -> {"name", "bus", "pattern", "events"}
        self.replays: dict[str, Replay] = {}
        self._lock = threading.Lock()
        default_arn = f"arn:aws:events:{self.region}:{self.account}:event-bus/default"
        self.buses["default"] = Bus("default", default_arn)
        for bus in registry.of_type("AWS::Events::EventBus"):
            self.buses[bus.physical_id] = Bus(bus.physical_id, bus.attributes["Arn"])
        for archive in registry.of_type("AWS::Events::Archive"):
            source = self._bus(archive.properties["SourceArn"])
            source.archives.append(archive.attributes["Arn"])
            self.archives[archive.attributes["Arn"]] = {"name": archive.physical_id, "bus": source.name,
                                                        "pattern": archive.properties.get("EventPattern"),
                                                        "events": []}
        for rule in registry.of_type("AWS::Events::Rule"):
            props = rule.properties
            self._bus(props.get("EventBusName", "default")).rules.append({
                "name": rule.attributes["Name"], "arn": rule.attributes["Arn"],
                "pattern": props.get("EventPattern"), "targets": props.get("Targets", []),
                "state": props.get("State", "ENABLED")})

    def _bus(self, name_or_arn: str) -> Bus:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        if name not in self.buses:
            raise KeyError(f"Event bus {name} does not exist.")
        return self.buses[name]

    # --- put events -----------------------------------------------------------------------------------
    def envelope(self, entry: dict[str, Any], bus: Bus) -> dict[str, Any]:
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
        """Delivers one enveloped event on a bus: archives, then matching rules' targets."""
        bus = self._bus(bus_name)
        if self.on_event is not None:
            self.on_event("bus", bus.name, event)
        for archive_arn in bus.archives:
            archive = self.archives[archive_arn]
            if archive["pattern"] is None or patterns.matches(archive["pattern"], event):
                with self._lock:
                    archive["events"].append(Archived(_epoch(event["time"]), event))
                if self.on_event is not None:
                    self.on_event("archive", archive["name"], event)
        self._deliver(bus, event, None)
        return str(event["id"])

    def _deliver(self, bus: Bus, event: dict[str, Any], only_rules: list[str] | None) -> None:
        for rule in bus.rules:
            if rule["state"] != "ENABLED" or (only_rules is not None and rule["arn"] not in only_rules):
                continue
            if rule["pattern"] is None or not patterns.matches(rule["pattern"], event):
                continue
            for target in rule["targets"]:
                self._to_target(target["Arn"], event)

    def _to_target(self, arn: str, event: dict[str, Any]) -> None:
        service = arn.split(":")[2]
        if service == "lambda":
            if self.on_event is not None:
                self.on_event("rule -> lambda", arn.rsplit(":", 1)[-1], event)
            self.async_invoker.submit(arn, event)
        elif service == "logs":
            group = arn.split(":log-group:", 1)[1].removesuffix(":*")
            logs = get_backend("logs")[self.account][self.region]
            stream = str(event["id"])
            logs.create_log_stream(group, stream)
            logs.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000),
                                                 "message": json.dumps(event)}])
        else:
            raise ValueError(f"the embedded engine cannot deliver EventBridge events to {arn}")

    # --- replay ---------------------------------------------------------------------------------------
    def start_replay(self, name: str, archive_arn: str, start: float, end: float, destination: dict[str, Any]
                     ) -> Replay:
        if name in self.replays:
            raise ValueError(f"Replay {name} already exists.")
        if archive_arn not in self.archives:
            raise KeyError(f"Archive {archive_arn.rsplit('/', 1)[-1]} does not exist.")
        replay = Replay(name, archive_arn, destination["Arn"], start, end, list(destination.get("FilterArns", [])),
                        started=time.time())
        self.replays[name] = replay
        threading.Thread(target=self._replay, args=(replay,), name=f"jobkit-replay-{name}", daemon=True).start()
        return replay

    def _replay(self, replay: Replay) -> None:
        try:
            self._replay_events(replay)
        except Exception as exc:
            replay.state, replay.reason = "FAILED", f"{type(exc).__name__}: {exc}"
            raise

    def _replay_events(self, replay: Replay) -> None:
        replay.state = "RUNNING"
        with self._lock:
            events = [a for a in self.archives[replay.archive_arn]["events"] if replay.start <= a.time <= replay.end]
        bus = self._bus(replay.destination_bus_arn)
        for archived in events:
            event = {**archived.event, "replay-name": replay.name}
            if self.on_event is not None:
                self.on_event("replay", replay.name, event)
            self._deliver(bus, event, replay.filter_arns or None)
            replay.last_replayed = archived.time
        replay.ended = time.time()
        replay.state = "COMPLETED"

    # --- the HTTP actions the engine owns -----------------------------------------------------------------
    def intercept_put_events(self, request: Request, call: AwsCall) -> Response:
        entries = call.json().get("Entries", [])
        results = []
        for entry in entries:
            try:
                bus = self._bus(entry.get("EventBusName") or "default")
                results.append({"EventId": self.put_event(bus.name, self.envelope(entry, bus))})
            except KeyError as exc:
                results.append({"ErrorCode": "ResourceNotFoundException", "ErrorMessage": str(exc)})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return json_response({"FailedEntryCount": failed, "Entries": results})

    def intercept_start_replay(self, request: Request, call: AwsCall) -> Response:
        body = call.json()
        try:
            replay = self.start_replay(body["ReplayName"], body["EventSourceArn"], _epoch(body["EventStartTime"]),
                                       _epoch(body["EventEndTime"]), body["Destination"])
        except KeyError as exc:
            return json_response({"__type": "ResourceNotFoundException", "message": str(exc)}, 400)
        except ValueError as exc:
            return json_response({"__type": "ResourceAlreadyExistsException", "message": str(exc)}, 400)
        return json_response({"ReplayArn": self._replay_arn(replay.name), "State": "STARTING",
                              "StateReason": "Replay started", "ReplayStartTime": replay.started})

    def intercept_describe_replay(self, request: Request, call: AwsCall) -> Response:
        name = call.json().get("ReplayName", "")
        replay = self.replays.get(name)
        if replay is None:
            return json_response({"__type": "ResourceNotFoundException", "message": f"Replay {name} does not exist."},
                                 400)
        document: dict[str, Any] = {
            "ReplayName": replay.name, "ReplayArn": self._replay_arn(replay.name), "State": replay.state,
            "EventSourceArn": replay.archive_arn,
            "Destination": {"Arn": replay.destination_bus_arn, **({"FilterArns": replay.filter_arns}
                                                                  if replay.filter_arns else {})},
            "EventStartTime": replay.start, "EventEndTime": replay.end, "ReplayStartTime": replay.started,
        }
        if replay.last_replayed is not None:
            document["EventLastReplayedTime"] = replay.last_replayed
        if replay.ended is not None:
            document["ReplayEndTime"] = replay.ended
        if replay.reason:
            document["StateReason"] = replay.reason
        return json_response(document)

    def intercept_describe_archive(self, request: Request, call: AwsCall) -> Response:
        """moto's description, with the event count and size of what this engine archived."""
        name = call.json().get("ArchiveName", "")
        backend = get_backend("events")[self.account][self.region]
        try:
            document = dict(backend.describe_archive(name))
        except Exception as exc:
            return json_response({"__type": "ResourceNotFoundException", "message": str(exc)}, 400)
        archive = next((a for a in self.archives.values() if a["name"] == name), None)
        if archive is not None:
            with self._lock:
                archived = list(archive["events"])
            document["EventCount"] = len(archived)
            document["SizeBytes"] = sum(len(json.dumps(a.event)) for a in archived)
        for key in ("CreationTime",):
            value = document.get(key)
            if isinstance(value, dt.datetime):
                document[key] = value.timestamp()
        return json_response(document)

    def _replay_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:replay/{name}"
