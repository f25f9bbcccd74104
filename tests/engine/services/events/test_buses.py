"""EventBridge: rules read from moto, the archive, replay with its exact window and replay-name, the capture rule,
cancelling a replay.

The resources live in moto's events backend under an account of their own (reset before each test), so the
session engine's account is never touched; targets are recorded by a fake deliverer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.backends import get_backend

from jobkit.client.waiting import wait_for
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.services.events.buses import EventsError, EventsService

ACCOUNT, REGION = "111122223333", "us-east-1"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/Failed"
ARCHIVE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"
HANDLER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
DETAIL_TYPE = "Lambda Function Invocation Result - Failure"


class Recorder:
    """The lambda deliverer: records (function, event); ``gate`` (if set) holds each delivery until it opens."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()

    def deliver(self, arn: str, delivery: Delivery) -> None:
        self.events.append((arn, delivery.body if isinstance(delivery.body, dict) else json.loads(delivery.body)))
        self.arrived.set()
        if self.gate is not None:
            assert self.gate.wait(5), "the test never opened the gate"


@pytest.fixture
def backend() -> Iterator[Any]:
    events = get_backend("events")[ACCOUNT][REGION]
    events.reset()
    yield events
    events.reset()


def service(backend: Any) -> tuple[EventsService, Recorder]:
    backend.create_event_bus("Failed")
    backend.create_archive("Arch", BUS_ARN, "", json.dumps({"account": [ACCOUNT]}), "")
    backend.put_rule("redrive", event_bus_arn="Failed", event_pattern=json.dumps(
        {"source": ["lambda"], "detail-type": [DETAIL_TYPE],
         "detail": {"requestContext": {"functionArn": [{"prefix": HANDLER}]}}}))
    backend.put_targets("redrive", "Failed", [{"Arn": HANDLER, "Id": "T"}])
    backend.put_rule("capture", event_bus_arn="Failed", event_pattern=json.dumps(
        {"source": ["lambda"], "replay-name": [{"exists": False}]}))
    backend.put_targets("capture", "Failed", [{"Arn": HANDLER + "-capture", "Id": "C"}])
    recorder = Recorder()
    destinations = Destinations()
    destinations.register("lambda", recorder.deliver)
    events = EventsService(ACCOUNT, REGION, destinations)
    destinations.register("events", events.deliver)
    return events, recorder


def failure(events: EventsService, n: int) -> dict[str, Any]:
    event = events.envelope({"Source": "lambda", "DetailType": DETAIL_TYPE, "Resources": [BUS_ARN, HANDLER],
                             "Detail": {"n": n, "requestContext": {"functionArn": f"{HANDLER}:$LATEST"}}})
    events.put_event("Failed", event)
    return event


def test_envelope_rules_and_archive(backend) -> None:
    events, recorder = service(backend)
    assert events.archives[ARCHIVE_ARN]["events"] == []  # an archive that exists at the start is known at once
    event = failure(events, 1)
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}
    assert event["version"] == "0" and event["time"].endswith("Z") and event["account"] == ACCOUNT
    assert [f for f, _ in recorder.events] == [HANDLER, HANDLER + "-capture"]
    assert len(events.archives[ARCHIVE_ARN]["events"]) == 1


def test_the_rules_are_read_when_each_event_is_delivered(backend) -> None:
    events, recorder = service(backend)
    backend.disable_rule("capture", "Failed")
    backend.remove_targets("redrive", "Failed", ["T"])
    failure(events, 1)
    assert recorder.events == []
    backend.enable_rule("capture", "Failed")
    failure(events, 2)
    assert [(f, e["detail"]["n"]) for f, e in recorder.events] == [(HANDLER + "-capture", 2)]


class WallClock:
    """Stands in for the ``time`` module inside jobkit.engine.services.events.buses (event times are wall
    clock time)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now


def test_replay_sends_the_exact_window_with_replay_name(monkeypatch, backend) -> None:
    import jobkit.engine.services.events.buses as events_module

    wall = WallClock()
    monkeypatch.setattr(events_module, "time", wall)
    events, recorder = service(backend)
    first = failure(events, 1)
    wall.now += 100
    second = failure(events, 2)
    wall.now += 100
    failure(events, 3)
    recorder.events.clear()
    start = events.archives[ARCHIVE_ARN]["events"][1].time
    events.start_replay("again", ARCHIVE_ARN, start, start + 1, {"Arn": BUS_ARN})
    wait_for(lambda: events.replays["again"].state, lambda s: s == "COMPLETED", timeout=5, describe="the replay")
    assert [(f, e["detail"]["n"], e["replay-name"]) for f, e in recorder.events] == [(HANDLER, 2, "again")]
    assert recorder.events[0][1]["id"] == second["id"] != first["id"]  # the archived event, as it was
    # a replayed event is not captured again (the capture rule excludes replay-name), nor archived again
    assert all(f == HANDLER for f, _ in recorder.events)
    assert len(events.archives[ARCHIVE_ARN]["events"]) == 3


def test_replay_filter_arns_restrict_rules(backend) -> None:
    events, recorder = service(backend)
    event = failure(events, 1)
    recorder.events.clear()
    when = events.archives[ARCHIVE_ARN]["events"][0].time
    events.start_replay("only-capture", ARCHIVE_ARN, when, when,
                        {"Arn": BUS_ARN, "FilterArns": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Failed/capture"]})
    wait_for(lambda: events.replays["only-capture"].state, lambda s: s == "COMPLETED", timeout=5,
             describe="the replay")
    assert recorder.events == []  # the capture rule itself excludes replays; redrive is filtered out
    assert json.dumps(event)  # envelopes stay JSON


def test_a_running_replay_can_be_cancelled_and_stops_before_its_next_event(backend) -> None:
    events, recorder = service(backend)
    failure(events, 1)
    failure(events, 2)
    backend.disable_rule("capture", "Failed")
    recorder.events.clear()
    recorder.gate, recorder.arrived = threading.Event(), threading.Event()
    archived = events.archives[ARCHIVE_ARN]["events"]
    events.start_replay("stop-me", ARCHIVE_ARN, archived[0].time, archived[-1].time, {"Arn": BUS_ARN})
    assert recorder.arrived.wait(5), "the replay delivered nothing"
    assert events.cancel_replay("stop-me").state == "CANCELLING"
    recorder.gate.set()
    wait_for(lambda: events.replays["stop-me"].state, lambda s: s == "CANCELLED", timeout=5,
             describe="the cancelled replay to stop")
    assert [e["detail"]["n"] for _, e in recorder.events] == [1]  # the second event was never replayed
    assert events.replays["stop-me"].ended is not None
    with pytest.raises(EventsError) as refused:
        events.cancel_replay("stop-me")
    assert refused.value.code == "IllegalStatusException"


def test_a_replay_goes_only_to_the_archive_s_own_bus(backend) -> None:
    events, _ = service(backend)
    backend.create_event_bus("Other")
    with pytest.raises(EventsError) as refused:
        events.start_replay("elsewhere", ARCHIVE_ARN, 0, 1, {"Arn": BUS_ARN.replace("/Failed", "/Other")})
    assert refused.value.code == "ValidationException"
    assert "Cross event bus replay is not permitted" in refused.value.message
    assert events.replays == {}


def test_a_lambda_destination_record_on_a_bus_gets_lambda_s_envelope(backend) -> None:
    events, recorder = service(backend)
    record = {"requestContext": {"functionArn": f"{HANDLER}:$LATEST", "condition": "RetriesExhausted"}}
    events.deliver(BUS_ARN, Delivery(record, detail_type=DETAIL_TYPE))
    delivered = [e for f, e in recorder.events if f == HANDLER]
    assert delivered[0]["source"] == "lambda" and delivered[0]["detail-type"] == DETAIL_TYPE
    assert delivered[0]["resources"] == [BUS_ARN, f"{HANDLER}:$LATEST"] and delivered[0]["detail"] == record


def test_reset_empties_the_archive_and_cancels_and_forgets_replays(backend) -> None:
    events, recorder = service(backend)
    failure(events, 1)
    failure(events, 2)
    backend.disable_rule("capture", "Failed")
    recorder.gate, recorder.arrived = threading.Event(), threading.Event()
    archived = events.archives[ARCHIVE_ARN]["events"]
    replay = events.start_replay("running", ARCHIVE_ARN, archived[0].time, archived[-1].time, {"Arn": BUS_ARN})
    assert recorder.arrived.wait(5), "the replay delivered nothing"
    recorder.events.clear()

    cleared = events.reset()

    recorder.gate.set()
    assert cleared == {"archives": 1, "archivedEvents": 2, "replays": 1}
    wait_for(lambda: replay.state, lambda s: s == "CANCELLED", timeout=5, describe="the replay to stop")
    assert recorder.events == []  # the second event was never replayed
    assert events.archives[ARCHIVE_ARN]["events"] == [] and events.list_replays() == []
    # the bus, its rules and the archive stay: a new failure is delivered and archived
    recorder.gate = None
    failure(events, 3)
    assert [e["detail"]["n"] for _, e in recorder.events] == [3]
    assert [a.event["detail"]["n"] for a in events.archives[ARCHIVE_ARN]["events"]] == [3]
    assert events.start_replay("running", ARCHIVE_ARN, 0, 2e9, {"Arn": BUS_ARN}).name == "running"  # name free again
