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
from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.core.front_door import SettingError
from jobkit.engine.services.events.buses import EventsError, EventsService, archive_delay_from_env

ACCOUNT, REGION = "111122223333", "us-east-1"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/Failed"
ARCHIVE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/Arch"
HANDLER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
DETAIL_TYPE = "Lambda Function Invocation Result - Failure"


class Recorder:
    """The lambda deliverer: records (function, event); ``gate`` (if set) holds each delivery until it opens."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.attributes: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()

    def deliver(self, arn: str, delivery: Delivery) -> None:
        self.events.append((arn, delivery.body if isinstance(delivery.body, dict) else json.loads(delivery.body)))
        self.attributes.append(delivery.attributes)
        self.arrived.set()
        if self.gate is not None:
            assert self.gate.wait(5), "the test never opened the gate"


@pytest.fixture
def backend() -> Iterator[Any]:
    events = get_backend("events")[ACCOUNT][REGION]
    events.reset()
    yield events
    events.reset()


def service(backend: Any, clock: SandboxClock | None = None, archive_delay: float = 0.0
            ) -> tuple[EventsService, Recorder]:
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
    events = EventsService(ACCOUNT, REGION, destinations, clock=clock, archive_delay=archive_delay)
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
    events.start_replay("only-capture", ARCHIVE_ARN, when, when + 1,
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
    events.start_replay("stop-me", ARCHIVE_ARN, archived[0].time, archived[-1].time + 1, {"Arn": BUS_ARN})
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
    replay = events.start_replay("running", ARCHIVE_ARN, archived[0].time, archived[-1].time + 1, {"Arn": BUS_ARN})
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


def test_a_replay_is_starting_then_running_through_its_window_then_completed(monkeypatch, backend) -> None:
    """DescribeReplay's states and EventLastReplayedTime as StartReplay documents them: the events of each minute
    of the window in turn, EventLastReplayedTime the time of the last one sent, ReplayEndTime once COMPLETED."""
    import jobkit.engine.services.events.buses as events_module

    wall = WallClock()
    monkeypatch.setattr(events_module, "time", wall)
    events, recorder = service(backend)
    backend.disable_rule("capture", "Failed")
    failure(events, 1)
    wall.now += 120
    failure(events, 2)
    archived = events.archives[ARCHIVE_ARN]["events"]
    recorder.events.clear()
    recorder.gate, recorder.arrived = threading.Event(), threading.Event()
    replay = events.start_replay("steps", ARCHIVE_ARN, archived[0].time, archived[-1].time + 1, {"Arn": BUS_ARN})
    assert replay.state == "STARTING" and replay.last_replayed is None
    assert recorder.arrived.wait(5), "the replay delivered nothing"
    assert replay.state == "RUNNING" and replay.ended is None  # the first event is being delivered
    recorder.arrived.clear()
    recorder.gate.set()
    recorder.gate = threading.Event()
    assert recorder.arrived.wait(5), "the replay never reached its second minute"
    assert replay.state == "RUNNING" and replay.last_replayed == archived[0].time
    recorder.gate.set()
    wait_for(lambda: replay.state, lambda s: s == "COMPLETED", timeout=5, describe="the replay to complete")
    assert replay.last_replayed == archived[1].time and replay.ended is not None
    assert [e["detail"]["n"] for _, e in recorder.events] == [1, 2]


def test_a_replay_can_be_cancelled_while_starting(backend) -> None:
    slow = SandboxClock(scale=0.001)  # a step of the replay lasts long enough to be seen
    events, recorder = service(backend, clock=slow)
    failure(events, 1)
    recorder.events.clear()
    when = events.archives[ARCHIVE_ARN]["events"][0].time
    replay = events.start_replay("early", ARCHIVE_ARN, when, when + 1, {"Arn": BUS_ARN})
    assert replay.state == "STARTING"
    events.cancel_replay("early")
    wait_for(lambda: replay.state, lambda s: s == "CANCELLED", timeout=5, describe="the replay to stop")
    assert recorder.events == []


def test_an_archived_event_is_counted_and_replayable_only_after_the_archive_delay(backend) -> None:
    clock = SandboxClock()
    events, recorder = service(backend, clock=clock, archive_delay=600)
    failure(events, 1)
    archive = backend.archives["Arch"]
    assert events.settled(archive) == []  # received, not yet in the archive's count
    when = events.archives[ARCHIVE_ARN]["events"][0].time
    recorder.events.clear()
    early = events.start_replay("too-early", ARCHIVE_ARN, when, when + 1, {"Arn": BUS_ARN})
    wait_for(lambda: early.state, lambda s: s == "COMPLETED", timeout=5, describe="the early replay")
    assert recorder.events == []  # nothing replayable yet
    clock.advance(600)
    assert [a.event["detail"]["n"] for a in events.settled(archive)] == [1]
    late = events.start_replay("in-time", ARCHIVE_ARN, when, when + 1, {"Arn": BUS_ARN})
    wait_for(lambda: late.state, lambda s: s == "COMPLETED", timeout=5, describe="the replay")
    assert [e["detail"]["n"] for f, e in recorder.events if f == HANDLER] == [1]


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf", "86401"])
def test_an_unusable_archive_delay_is_a_one_line_setting_error(value: str) -> None:
    with pytest.raises(SettingError, match="JOBKIT_ARCHIVE_DELAY"):
        archive_delay_from_env({"JOBKIT_ARCHIVE_DELAY": value})


def test_the_archive_delay_setting() -> None:
    assert archive_delay_from_env({}) == 0
    assert archive_delay_from_env({"JOBKIT_ARCHIVE_DELAY": " 600 "}) == 600
    assert archive_delay_from_env({"JOBKIT_ARCHIVE_DELAY": "0.5"}) == 0.5


def test_the_entry_s_time_is_the_event_s_time_and_the_replay_window_reads_it(backend) -> None:
    events, recorder = service(backend)
    backend.disable_rule("capture", "Failed")
    past = 1_600_000_000  # 2020-09-13T12:26:40Z
    event = events.envelope({"Source": "lambda", "DetailType": DETAIL_TYPE, "Time": past,
                             "Detail": {"n": 1, "requestContext": {"functionArn": HANDLER}}})
    assert event["time"] == "2020-09-13T12:26:40Z"
    events.put_event("Failed", event)
    failure(events, 2)  # now
    recorder.events.clear()
    replay = events.start_replay("then", ARCHIVE_ARN, past - 1, past + 1, {"Arn": BUS_ARN})
    wait_for(lambda: replay.state, lambda s: s == "COMPLETED", timeout=5, describe="the replay")
    assert [e["detail"]["n"] for _, e in recorder.events] == [1]


class Failing:
    """A deliverer that fails its first ``failures`` deliveries, then records."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[dict[str, Any]] = []

    def deliver(self, arn: str, delivery: Delivery) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("target unavailable")
        self.delivered.append(delivery.body if isinstance(delivery.body, dict) else json.loads(delivery.body))


def retrying(backend: Any, policy: dict[str, int], failures: int) -> tuple[EventsService, Failing, Recorder]:
    """A rule whose SQS target fails ``failures`` times, with ``policy`` and a dead-letter queue; the clock runs
    1000 times faster than real time so the back off is short."""
    events, recorder = service(backend, clock=SandboxClock(scale=1000))
    backend.disable_rule("capture", "Failed")
    failing = Failing(failures)
    events.destinations.register("sqs", lambda arn, d: (failing if "target" in arn else recorder).deliver(arn, d))
    backend.put_rule("flaky", event_bus_arn="Failed", event_pattern=json.dumps({"detail-type": ["flaky"]}))
    backend.put_targets("flaky", "Failed", [{
        "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:target", "Id": "Q", "RetryPolicy": policy,
        "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}}])
    return events, failing, recorder


def put_flaky(events: EventsService) -> dict[str, Any]:
    event = events.envelope({"Source": "app", "DetailType": "flaky", "Detail": {}})
    events.put_event("Failed", event)
    return event


def test_a_failed_delivery_is_retried_by_the_target_s_retry_policy(backend) -> None:
    events, failing, recorder = retrying(backend, {"MaximumRetryAttempts": 3}, failures=2)
    event = put_flaky(events)
    wait_for(lambda: failing.delivered, lambda got: len(got) == 1, timeout=10, describe="the retried delivery")
    assert failing.delivered[0]["id"] == event["id"] and failing.calls == 3
    assert recorder.events == []  # nothing dead-lettered


@pytest.mark.parametrize(("policy", "attempts", "condition"), [
    ({"MaximumRetryAttempts": 2}, 2, "MaximumRetryAttempts"),
    # back off of 1, 2, 4, 8, 16 s; the next (32 s) would pass the 60 s age
    ({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}, 5, "MaximumEventAgeInSeconds"),
])
def test_spent_retries_send_the_event_to_the_dead_letter_queue(backend, policy, attempts, condition) -> None:
    events, failing, recorder = retrying(backend, policy, failures=1000)
    event = put_flaky(events)
    wait_for(lambda: recorder.events, lambda got: len(got) == 1, timeout=10, describe="the dead-lettered event")
    arn, body = recorder.events[0]
    assert arn.endswith(":dlq") and body == event and failing.calls == attempts + 1
    attributes = {name: value["StringValue"] for name, value in recorder.attributes[0].items()}
    assert attributes == {"ERROR_CODE": "ConnectionError", "ERROR_MESSAGE": "target unavailable",
                          "EXHAUSTED_RETRY_CONDITION": condition, "RETRY_ATTEMPTS": str(attempts),
                          "RULE_ARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Failed/flaky",
                          "TARGET_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:target"}
