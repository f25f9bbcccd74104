"""EventBridge: rules, the archive, replay with its exact window and replay-name, the capture rule."""

from __future__ import annotations

import json
from typing import Any

from jobkit.client.waiting import wait_for
from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.services.cloudformation.deployer import DeployedResource, StackRegistry
from jobkit.engine.services.events.buses import EventsService

ACCOUNT, REGION = "000000000000", "us-east-1"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/Failed"
HANDLER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
DETAIL_TYPE = "Lambda Function Invocation Result - Failure"


class RecordingAsync:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def submit(self, function: str, event: dict[str, Any], request_id: str | None = None) -> str:
        self.events.append((function, event))
        return "r"


def service(clock: SandboxClock) -> tuple[EventsService, RecordingAsync]:
    registry = StackRegistry("S", "id", ACCOUNT, REGION)
    registry.resources = {
        "Bus": DeployedResource("Bus", "AWS::Events::EventBus", "Failed", {"Name": "Failed"},
                                {"Arn": BUS_ARN, "Name": "Failed"}),
        "Archive": DeployedResource("Archive", "AWS::Events::Archive", "Arch",
                                    {"SourceArn": BUS_ARN, "EventPattern": {"account": [ACCOUNT]}},
                                    {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"}),
        "Redrive": DeployedResource("Redrive", "AWS::Events::Rule", "Failed|redrive", {
            "EventBusName": "Failed", "State": "ENABLED",
            "EventPattern": {"source": ["lambda"], "detail-type": [DETAIL_TYPE],
                             "detail": {"requestContext": {"functionArn": [{"prefix": HANDLER}]}}},
            "Targets": [{"Arn": HANDLER, "Id": "T"}]},
            {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Failed/redrive", "Name": "redrive"}),
        "Capture": DeployedResource("Capture", "AWS::Events::Rule", "Failed|capture", {
            "EventBusName": "Failed",
            "EventPattern": {"source": ["lambda"], "replay-name": [{"exists": False}]},
            "Targets": [{"Arn": HANDLER + "-capture", "Id": "C"}]},
            {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Failed/capture", "Name": "capture"}),
    }
    recorder = RecordingAsync()
    return EventsService(registry, recorder, clock), recorder  # type: ignore[arg-type]


def failure(events: EventsService, n: int) -> dict[str, Any]:
    bus = events.buses["Failed"]
    event = events.envelope({"Source": "lambda", "DetailType": DETAIL_TYPE, "Resources": [BUS_ARN, HANDLER],
                             "Detail": {"n": n, "requestContext": {"functionArn": f"{HANDLER}:$LATEST"}}}, bus)
    events.put_event("Failed", event)
    return event


def test_envelope_rules_and_archive() -> None:
    events, recorder = service(SandboxClock())
    event = failure(events, 1)
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}
    assert event["version"] == "0" and event["time"].endswith("Z") and event["account"] == ACCOUNT
    assert [f for f, _ in recorder.events] == [HANDLER, HANDLER + "-capture"]
    assert len(events.archives[f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"]["events"]) == 1


class WallClock:
    """Stands in for the ``time`` module inside jobkit.engine.services.events.buses (event times are wall
    clock time)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now


def test_replay_sends_the_exact_window_with_replay_name(monkeypatch) -> None:
    import jobkit.engine.services.events.buses as events_module

    wall = WallClock()
    monkeypatch.setattr(events_module, "time", wall)
    events, recorder = service(SandboxClock())
    first = failure(events, 1)
    wall.now += 100
    second = failure(events, 2)
    wall.now += 100
    failure(events, 3)
    recorder.events.clear()
    archive = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"
    start = events.archives[archive]["events"][1].time
    events.start_replay("again", archive, start, start + 1, {"Arn": BUS_ARN})
    wait_for(lambda: events.replays["again"].state, lambda s: s == "COMPLETED", timeout=5, describe="the replay")
    assert [(f, e["detail"]["n"], e["replay-name"]) for f, e in recorder.events] == [(HANDLER, 2, "again")]
    assert recorder.events[0][1]["id"] == second["id"] != first["id"]  # the archived event, as it was
    # a replayed event is not captured again (the capture rule excludes replay-name)
    assert all(f == HANDLER for f, _ in recorder.events)


def test_replay_filter_arns_restrict_rules() -> None:
    events, recorder = service(SandboxClock())
    event = failure(events, 1)
    recorder.events.clear()
    archive = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"
    when = events.archives[archive]["events"][0].time
    events.start_replay("only-capture", archive, when, when,
                        {"Arn": BUS_ARN, "FilterArns": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Failed/capture"]})
    wait_for(lambda: events.replays["only-capture"].state, lambda s: s == "COMPLETED", timeout=5,
             describe="the replay")
    assert recorder.events == []  # the capture rule itself excludes replays; redrive is filtered out
    assert json.dumps(event)  # envelopes stay JSON
