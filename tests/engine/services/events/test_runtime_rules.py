"""EventBridge resources a test creates at run time behave like the template's, over the engine's AWS API: rules
and their targets, their state, input shaping, CloudWatch Logs and bus targets, archives and replays.

Each test works on a bus and queues of its own, removed afterwards. A message that must not arrive is checked
with a sentinel: a second rule sends ``sentinel`` events to the same queue, so once the sentinel put after the
event under test has arrived, the event under test would have arrived before it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for

ORDERS = {"source": ["app.orders"], "detail-type": ["created"]}


class Sandbox:
    """A bus, queues and log groups of one test, and everything put on them; ``close`` removes it all."""

    def __init__(self, deployment: Deployment) -> None:
        self.events, self.sqs, self.logs = (deployment.client(s) for s in ("events", "sqs", "logs"))
        self.tag = uuid.uuid4().hex[:8]
        self.bus = f"rt-{self.tag}"
        self.bus_arn = self.events.create_event_bus(Name=self.bus)["EventBusArn"]
        self._rules: list[tuple[str, str]] = []
        self._buses, self._queues, self._groups, self._archives = [self.bus], list[str](), list[str](), list[str]()
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.sentinel = self.queue("sentinel-queue")
        self.rule("sentinel", {"detail-type": ["sentinel"]}, [{"Id": "q", "Arn": self.sentinel[1]}])

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=f"{name}-{self.tag}")["QueueUrl"]
        self._queues.append(url)
        self.received[url] = []
        return url, self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def other_bus(self) -> str:
        name = f"{self.bus}-other"
        self._buses.append(name)
        return str(self.events.create_event_bus(Name=name)["EventBusArn"])

    def log_group(self) -> str:
        group = f"/jobkit/test/{self.tag}"
        self.logs.create_log_group(logGroupName=group)
        self._groups.append(group)
        return group

    def archive(self, pattern: dict[str, Any]) -> tuple[str, str]:
        name = f"rt-archive-{self.tag}"
        arn = self.events.create_archive(ArchiveName=name, EventSourceArn=self.bus_arn,
                                         EventPattern=json.dumps(pattern))["ArchiveArn"]
        self._archives.append(name)
        return name, str(arn)

    def rule(self, name: str, pattern: dict[str, Any], targets: list[dict[str, Any]], bus: str | None = None) -> str:
        bus = bus or self.bus
        self.events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        self._rules.append((name, bus))
        if targets:
            self.events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return name

    def put(self, detail_type: str, detail: dict[str, Any], source: str = "app.orders", bus: str | None = None
            ) -> str:
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
        if bus != "default":
            entry["EventBusName"] = bus or self.bus
        answer = self.events.put_events(Entries=[entry])
        assert answer["FailedEntryCount"] == 0, answer
        return str(answer["Entries"][0]["EventId"])

    def messages(self, url: str, until: Callable[[list[dict[str, Any]]], bool], describe: str) -> list[Any]:
        """The bodies the queue received (JSON documents parsed), once ``until`` holds of them."""

        def poll() -> list[Any]:
            answer = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            self.received[url] += answer.get("Messages", [])
            return [_parsed(m["Body"]) for m in self.received[url]]

        return wait_for(poll, until, timeout=10, describe=describe)

    def after_sentinel(self, url: str) -> list[Any]:
        """What ``url`` received before a sentinel put now reaches the sentinel queue (or ``url`` itself)."""
        marker = uuid.uuid4().hex
        self.put("sentinel", {"marker": marker})
        sentinel_url = self.sentinel[0]
        self.messages(sentinel_url, lambda got: any(_marker(m) == marker for m in got), "the sentinel")
        return [m for m in self.messages(url, lambda got: True, "the queue") if _marker(m) is None]

    def close(self) -> None:
        for name, bus in self._rules:
            ids = [t["Id"] for t in self.events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]]
            if ids:
                self.events.remove_targets(Rule=name, EventBusName=bus, Ids=ids)
            self.events.delete_rule(Name=name, EventBusName=bus)
        for archive in self._archives:
            self.events.delete_archive(ArchiveName=archive)
        for bus in self._buses:
            self.events.delete_event_bus(Name=bus)
        for url in self._queues:
            self.sqs.delete_queue(QueueUrl=url)
        for group in self._groups:
            self.logs.delete_log_group(logGroupName=group)


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def _marker(message: Any) -> str | None:
    return message.get("detail", {}).get("marker") if isinstance(message, dict) else None


@pytest.fixture
def sandbox(deployment: Deployment) -> Iterator[Sandbox]:
    box = Sandbox(deployment)
    try:
        yield box
    finally:
        box.close()


def test_a_rule_put_at_run_time_delivers_matching_events_to_its_queue(sandbox: Sandbox) -> None:
    url, arn = sandbox.queue("orders")
    sandbox.rule("orders", ORDERS, [{"Id": "q", "Arn": arn}])
    sandbox.put("deleted", {"order": "o-0"})  # the pattern's detail-type does not match
    event_id = sandbox.put("created", {"order": "o-1"})
    got = sandbox.messages(url, lambda got: len(got) >= 1, "the matching event")
    assert got[0]["id"] == event_id and got[0]["source"] == "app.orders" and got[0]["detail"] == {"order": "o-1"}
    assert [m["detail"]["order"] for m in sandbox.after_sentinel(url)] == ["o-1"]


def test_disable_rule_stops_delivery_and_enable_rule_resumes_it(sandbox: Sandbox) -> None:
    url, arn = sandbox.queue("orders")
    sandbox.rule("orders", ORDERS, [{"Id": "q", "Arn": arn}])
    sandbox.events.disable_rule(Name="orders", EventBusName=sandbox.bus)
    sandbox.put("created", {"order": "while-disabled"})
    assert sandbox.after_sentinel(url) == []
    sandbox.events.enable_rule(Name="orders", EventBusName=sandbox.bus)
    sandbox.put("created", {"order": "enabled"})
    got = sandbox.messages(url, lambda got: len(got) >= 1, "the event after EnableRule")
    assert [m["detail"]["order"] for m in got] == ["enabled"]


def test_remove_targets_stops_delivery(sandbox: Sandbox) -> None:
    url, arn = sandbox.queue("orders")
    sandbox.rule("orders", ORDERS, [{"Id": "q", "Arn": arn}])
    sandbox.events.remove_targets(Rule="orders", EventBusName=sandbox.bus, Ids=["q"])
    sandbox.put("created", {"order": "o-1"})
    assert sandbox.after_sentinel(url) == []


def test_input_path_and_input_transformer_shape_what_the_queue_receives(sandbox: Sandbox) -> None:
    (path_url, path_arn), (json_url, json_arn), (text_url, text_arn) = (
        sandbox.queue("path"), sandbox.queue("json"), sandbox.queue("text"))
    paths = {"id": "$.detail.order.id", "who": "$.source", "lines": "$.detail.order.lines"}
    json_template = '{"order": <id>, "lines": <lines>, "text": "order <id> from <who>"}'
    sandbox.rule("orders", ORDERS, [
        {"Id": "path", "Arn": path_arn, "InputPath": "$.detail.order"},
        {"Id": "json", "Arn": json_arn, "InputTransformer": {"InputPathsMap": paths, "InputTemplate": json_template}},
        {"Id": "text", "Arn": text_arn, "InputTransformer": {
            "InputPathsMap": paths, "InputTemplate": '"order <id> has <lines> lines"'}},
    ])
    order = {"id": "o-7", "lines": [1, 2]}
    sandbox.put("created", {"order": order})
    assert sandbox.messages(path_url, lambda got: len(got) == 1, "the InputPath message") == [order]
    assert sandbox.messages(json_url, lambda got: len(got) == 1, "the JSON template's message") == [
        {"order": "o-7", "lines": [1, 2], "text": "order o-7 from app.orders"}]
    sandbox.messages(text_url, lambda got: len(got) == 1, "the string template's message")
    # a string template is a JSON string: its quotes are sent, the values placed in it unescaped
    assert sandbox.received[text_url][0]["Body"] == '"order o-7 has [1,2] lines"'


def test_a_logs_target_writes_the_event_to_the_log_group(sandbox: Sandbox) -> None:
    group = sandbox.log_group()
    group_arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    sandbox.rule("orders", ORDERS, [{"Id": "logs", "Arn": group_arn}])
    event_id = sandbox.put("created", {"order": "o-1"})
    found = wait_for(lambda: sandbox.logs.filter_log_events(logGroupName=group)["events"],
                     lambda events: len(events) >= 1, timeout=10, describe="the event in the log group")
    written = json.loads(found[0]["message"])
    assert written["id"] == event_id and written["detail"] == {"order": "o-1"}
    assert found[0]["logStreamName"] == event_id  # one stream per event, named by its id


def test_a_target_the_engine_cannot_deliver_is_refused_naming_it(sandbox: Sandbox) -> None:
    sandbox.rule("orders", ORDERS, [])
    with pytest.raises(ClientError) as refused:
        sandbox.events.put_targets(Rule="orders", EventBusName=sandbox.bus, Targets=[
            {"Id": "stream", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/orders"}])
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "stream" in error["Message"] and "arn:aws:kinesis:us-east-1:000000000000:stream/orders" in error["Message"]
    assert sandbox.events.list_targets_by_rule(Rule="orders", EventBusName=sandbox.bus)["Targets"] == []


def test_rules_on_the_default_bus_and_bus_targets(sandbox: Sandbox) -> None:
    url, arn = sandbox.queue("orders")
    source = f"app.orders.{sandbox.tag}"
    sandbox.rule(f"default-{sandbox.tag}", {"source": [source]}, [{"Id": "to-bus", "Arn": sandbox.bus_arn}],
                 bus="default")
    sandbox.rule("orders", {"source": [source]}, [{"Id": "q", "Arn": arn}])
    event_id = sandbox.put("created", {"order": "o-1"}, source=source, bus="default")
    got = sandbox.messages(url, lambda got: len(got) >= 1, "the event from the default bus, through the bus target")
    assert got[0]["id"] == event_id and got[0]["detail"] == {"order": "o-1"}


def test_a_run_time_archive_keeps_matching_events_and_replays_answer(sandbox: Sandbox) -> None:
    url, arn = sandbox.queue("orders")
    events = sandbox.events
    archive, archive_arn = sandbox.archive({"source": ["app.orders"]})
    sandbox.rule("replayed", {"replay-name": [{"exists": True}]}, [{"Id": "q", "Arn": arn}])
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    kept = sandbox.put("created", {"order": "o-1"})
    sandbox.put("created", {"order": "elsewhere"}, source="app.billing")  # not the archive's pattern
    assert wait_for(lambda: events.describe_archive(ArchiveName=archive)["EventCount"], lambda n: n >= 1,
                    timeout=10, describe="the archived event") == 1
    window = {"EventSourceArn": archive_arn, "EventStartTime": before,
              "EventEndTime": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)}
    other_bus = sandbox.other_bus()
    with pytest.raises(ClientError) as refused:
        events.start_replay(ReplayName=f"cross-{sandbox.tag}", Destination={"Arn": other_bus}, **window)
    assert refused.value.response["Error"]["Code"] == "ValidationException"

    name = f"replay-{sandbox.tag}"
    started = events.start_replay(ReplayName=name, Destination={"Arn": sandbox.bus_arn}, **window)
    assert started["State"] == "STARTING" and started["ReplayArn"].endswith(f":replay/{name}")
    got = sandbox.messages(url, lambda got: len(got) >= 1, "the replayed event")
    assert [(m["id"], m["replay-name"]) for m in got] == [(kept, name)]
    listed = wait_for(lambda: events.list_replays(NamePrefix=name)["Replays"],
                      lambda replays: [r["State"] for r in replays] == ["COMPLETED"], timeout=10,
                      describe="the replay listed as completed")
    assert listed[0]["ReplayName"] == name and listed[0]["EventSourceArn"] == archive_arn
    assert {"EventStartTime", "EventEndTime", "ReplayStartTime", "ReplayEndTime"} <= set(listed[0])
    assert events.list_replays(EventSourceArn=archive_arn)["Replays"][0]["ReplayName"] == name
    with pytest.raises(ClientError) as not_running:
        events.cancel_replay(ReplayName=name)
    assert not_running.value.response["Error"]["Code"] == "IllegalStatusException"
    with pytest.raises(ClientError) as two_filters:
        events.list_replays(NamePrefix=name, State="COMPLETED")
    assert two_filters.value.response["Error"]["Code"] == "ValidationException"


def test_put_events_and_start_replay_refusals_in_the_json_error_shape(sandbox: Sandbox) -> None:
    """The ValidationExceptions of PutEvents (1 to 10 entries, less than 256 KB in all) and StartReplay (name,
    window, destination bus), as https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
    and API_StartReplay.html / API_ReplayDestination.html document them."""
    entry = {"Source": "app.orders", "DetailType": "created", "Detail": "{}", "EventBusName": sandbox.bus}

    def refusal(call: Callable[[], Any]) -> dict[str, Any]:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return dict(refused.value.response["Error"])

    eleven = refusal(lambda: sandbox.events.put_events(Entries=[entry] * 11))
    assert eleven["Code"] == "ValidationException" and "less than or equal to 10" in eleven["Message"]
    big = {**entry, "Detail": json.dumps({"blob": "x" * (256 * 1024)})}
    too_big = refusal(lambda: sandbox.events.put_events(Entries=[big]))
    assert too_big == {"Code": "ValidationException",
                       "Message": "Total size of the entries in the request is over the limit."}

    _, archive_arn = sandbox.archive({"source": ["app.orders"]})
    now = dt.datetime.now(dt.UTC)
    window = {"EventSourceArn": archive_arn, "EventStartTime": now - dt.timedelta(minutes=5), "EventEndTime": now,
              "Destination": {"Arn": sandbox.bus_arn}}
    name = refusal(lambda: sandbox.events.start_replay(ReplayName="no spaces", **window))
    assert name["Code"] == "ValidationException" and "'replayName'" in name["Message"]
    assert "regular expression pattern" in name["Message"]
    reversed_window = {**window, "EventStartTime": now, "EventEndTime": now - dt.timedelta(minutes=5)}
    backwards = refusal(lambda: sandbox.events.start_replay(ReplayName=f"back-{sandbox.tag}", **reversed_window))
    assert backwards == {"Code": "ValidationException", "Message": "Parameter EventEndTime is not valid. Reason: "
                                                                   "EventStartTime must be before EventEndTime."}
    cross = refusal(lambda: sandbox.events.start_replay(ReplayName=f"cross-{sandbox.tag}",
                                                        **{**window, "Destination": {"Arn": sandbox.other_bus()}}))
    assert cross == {"Code": "ValidationException", "Message": "Parameter Destination.Arn is not valid. Reason: "
                                                               "Cross event bus replay is not permitted."}
    assert sandbox.events.list_replays(NamePrefix=f"back-{sandbox.tag}")["Replays"] == []


def test_an_undeliverable_event_goes_to_the_dead_letter_queue_with_the_documented_attributes(
        sandbox: Sandbox) -> None:
    """A target that fails with its retries spent: the event, as it is, in the DeadLetterConfig queue with
    ERROR_CODE, ERROR_MESSAGE, RULE_ARN and TARGET_ARN
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    url, dlq_arn = sandbox.queue("dlq")
    missing = f"arn:aws:lambda:us-east-1:000000000000:function:missing-{sandbox.tag}"
    rule = sandbox.rule("broken", {"detail-type": ["doomed"]}, [{
        "Id": "f", "Arn": missing, "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": dlq_arn}}])
    event_id = sandbox.put("doomed", {"order": "o-9"})

    def poll() -> list[dict[str, Any]]:
        answer = sandbox.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                             MessageAttributeNames=["All"])
        sandbox.received[url] += answer.get("Messages", [])
        return sandbox.received[url]

    messages = wait_for(poll, lambda got: len(got) >= 1, timeout=10, describe="the dead-lettered event")
    assert json.loads(messages[0]["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    rule_arn = sandbox.events.describe_rule(Name=rule, EventBusName=sandbox.bus)["Arn"]
    assert attributes["RULE_ARN"] == rule_arn and attributes["TARGET_ARN"] == missing
    assert attributes["ERROR_CODE"] and attributes["ERROR_MESSAGE"]
    assert attributes["RETRY_ATTEMPTS"] == "0" and attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
