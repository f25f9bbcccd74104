"""The host runtime of the LocalStack target, against a real engine (no Docker).

Order matters in this module only for the last test, which stops the engine and starts it again.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import requests
from rich.console import Console

from jobkit.client.waiting import wait_for
from jobkit.targets.localstack import settings
from jobkit.targets.localstack.host import USABLE_STATES, HostRuntime, RunRecord, _port_open, listening_addresses
from jobkit.ui import Ui
from tests.localstack.conftest import LocalStackHost

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def name() -> str:
    return f"jobkit-test-{uuid4().hex[:10]}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _recording_ui() -> tuple[Ui, io.StringIO]:
    buffer = io.StringIO()
    return Ui(Console(file=buffer, width=200, force_terminal=False)), buffer


# ------------------------------------------------------------------------------------------------- health


def test_health_reports_every_service_the_stack_needs(localstack_host: LocalStackHost) -> None:
    health = requests.get(f"{localstack_host.endpoint_url}/_localstack/health", timeout=5).json()
    services = health["services"]
    unusable = {s: services.get(s) for s in settings.required_services() if services.get(s) not in USABLE_STATES}
    assert not unusable, f"services not available/running: {unusable}"
    if localstack_host.ours:
        assert health["version"] == settings.LOCALSTACK_VERSION


def test_gateway_listens_on_loopback_only(localstack_host: LocalStackHost) -> None:
    if not localstack_host.ours:
        pytest.skip("the engine on the port was not started by this project's host runtime")
    assert listening_addresses(settings.DEFAULT_PORT) == {settings.DEFAULT_HOST}


# ------------------------------------------------------------------------------------ DynamoDB + streams


def _stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record the stream holds now, over all shards, from the start."""
    records: list[dict[str, Any]] = []
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["dynamodb"]["Keys"]["id"]["S"] for r in records}


def _wait_stream_live(ddb: Any, streams: Any, table: str, stream_arn: str, timeout: float = 60) -> None:
    """ENABLED is not enough: writes within ~1 s of CreateTable can miss the stream. Probe until one lands."""

    def probe() -> bool:
        probe_id = f"probe-{uuid4().hex}"
        ddb.put_item(TableName=table, Item={"id": {"S": probe_id}})
        try:
            wait_for(lambda: _ids(_stream_records(streams, stream_arn)), lambda ids: probe_id in ids,
                     timeout=3, describe="a probe write in the stream")
        except AssertionError:
            return False
        return True

    wait_for(probe, bool, timeout=timeout, describe=f"the stream of {table} to deliver writes")


@pytest.fixture
def table_with_stream(localstack_host: LocalStackHost, name: str) -> Iterator[tuple[str, str]]:
    ddb = localstack_host.client("dynamodb")
    created = ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    try:
        yield name, created["TableDescription"]["LatestStreamArn"]
    finally:
        ddb.delete_table(TableName=name)


def test_dynamodb_local_from_npm_serves_a_table_and_its_stream(
        localstack_host: LocalStackHost, table_with_stream: tuple[str, str]) -> None:
    table, stream_arn = table_with_stream
    ddb = localstack_host.client("dynamodb")
    streams = localstack_host.client("dynamodbstreams")
    wait_for(lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"], lambda s: s == "ACTIVE",
             timeout=30, describe=f"table {table} to be ACTIVE")
    wait_for(lambda: streams.describe_stream(StreamArn=stream_arn)["StreamDescription"],
             lambda d: d["StreamStatus"] == "ENABLED" and bool(d["Shards"]), timeout=30,
             describe="the table's stream to be ENABLED with a shard")
    _wait_stream_live(ddb, streams, table, stream_arn)

    ddb.put_item(TableName=table, Item={"id": {"S": "job-1"}, "seconds": {"N": "3"}})
    assert ddb.get_item(TableName=table, Key={"id": {"S": "job-1"}})["Item"]["seconds"] == {"N": "3"}
    records = wait_for(lambda: _stream_records(streams, stream_arn), lambda rs: "job-1" in _ids(rs),
                       timeout=30, describe="the put of job-1 in the stream")
    (record,) = [r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == "job-1"]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"]["seconds"] == {"N": "3"}

    if localstack_host.ours:  # the Java process is DynamoDB Local from npm, with the do-nothing agent
        java = [c for c in map(_cmdline, localstack_host.runtime.processes()) if "DynamoDBLocal.jar" in c]
        assert java, "no DynamoDB Local process among the engine's processes"
        slot = "/".join(settings.DYNAMODB_LOCAL_SLOT)
        assert f"{slot}/DynamoDBLocal.jar" in java[0]
        assert "-javaagent:" in java[0] and settings.DDB_AGENT_JAR_NAME in java[0]
        # its SQLite library is unpacked into the project's scratch folder, not the machine's /tmp
        (pid,) = [p for p in localstack_host.runtime.processes() if "DynamoDBLocal.jar" in _cmdline(p)]
        native = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                  if "sqlite" in line.rsplit("/", 1)[-1]}
        assert native, "DynamoDB Local has no SQLite library mapped"
        scratch = str(localstack_host.runtime.paths.tmp) + "/"
        assert all(path.startswith(scratch) for path in native), native


# --------------------------------------------------------------------------------------- EventBridge replay


@pytest.fixture
def bus_archive_queue(localstack_host: LocalStackHost, name: str) -> Iterator[dict[str, str]]:
    """A bus with an archive, and a rule that sends its events (source = name) to an SQS queue."""
    events = localstack_host.client("events")
    sqs = localstack_host.client("sqs")
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"]
    archive_arn = events.create_archive(ArchiveName=name, EventSourceArn=bus_arn)["ArchiveArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=name, EventPattern=json.dumps({"source": [name]}))
    events.put_targets(Rule=name, EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    try:
        yield {"bus": name, "bus_arn": bus_arn, "archive_arn": archive_arn, "queue_url": queue_url}
    finally:
        events.remove_targets(Rule=name, EventBusName=name, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=name)
        events.delete_archive(ArchiveName=name)
        events.delete_event_bus(Name=name)
        sqs.delete_queue(QueueUrl=queue_url)


def _receive(sqs: Any, queue_url: str, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds what the queue holds now to ``into`` (deleting it from the queue) and returns ``into``."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        into.append(json.loads(message["Body"]))
    return into


def test_start_replay_redelivers_an_archived_event(localstack_host: LocalStackHost, name: str,
                                                   bus_archive_queue: dict[str, str]) -> None:
    events = localstack_host.client("events")
    sqs = localstack_host.client("sqs")
    queue_url = bus_archive_queue["queue_url"]
    since = datetime.now(UTC) - timedelta(minutes=2)
    put = events.put_events(Entries=[{"Source": name, "DetailType": "Lambda Function Invocation Result - Failure",
                                      "Detail": json.dumps({"job": "job-42"}), "EventBusName": name}])
    assert put["FailedEntryCount"] == 0
    wait_for(lambda: events.describe_archive(ArchiveName=name)["EventCount"], lambda n: n >= 1, timeout=30,
             describe=f"archive {name} to count the event")
    seen: list[dict[str, Any]] = []
    wait_for(lambda: _receive(sqs, queue_url, seen), bool, timeout=30,
             describe="the original event at the rule's queue")
    assert seen[0]["detail"] == {"job": "job-42"} and "replay-name" not in seen[0]

    # before the fix this answered 500 "replace() takes at least 2 positional arguments"
    replay = events.start_replay(ReplayName=name, EventSourceArn=bus_archive_queue["archive_arn"],
                                 EventStartTime=since, EventEndTime=datetime.now(UTC) + timedelta(minutes=1),
                                 Destination={"Arn": bus_archive_queue["bus_arn"]})
    assert replay["State"] in {"STARTING", "RUNNING", "COMPLETED"}
    described = wait_for(lambda: events.describe_replay(ReplayName=name), lambda d: d["State"] == "COMPLETED",
                         timeout=30, describe=f"replay {name} to be COMPLETED")
    assert isinstance(described["EventLastReplayedTime"], datetime)

    replayed: list[dict[str, Any]] = []
    wait_for(lambda: _receive(sqs, queue_url, replayed), bool, timeout=30,
             describe="the replayed event at the rule's queue")
    assert replayed[0]["detail"] == {"job": "job-42"}
    assert replayed[0]["replay-name"] == name
    assert replayed[0]["detail-type"] == "Lambda Function Invocation Result - Failure"


# ------------------------------------------------------------------------------------------- up and down


def test_a_second_up_says_already_running(localstack_host: LocalStackHost) -> None:
    if not localstack_host.ours:
        pytest.skip("the engine on the port was not started by this project's host runtime")
    ui, out = _recording_ui()
    result = localstack_host.runtime.up(ui)
    assert not result.started
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0], lines


def test_down_leaves_no_process_of_the_engine(localstack_host: LocalStackHost) -> None:
    """Runs last: stops the session's engine, checks, and starts it again for whatever follows."""
    if not localstack_host.ours:
        pytest.skip("the engine on the port was not started by this project's host runtime")
    runtime = localstack_host.runtime
    before = runtime.processes()
    assert runtime.status().pid in before
    ui, out = _recording_ui()
    result = runtime.down(ui)
    try:
        assert result.was_running
        survivors = {pid: _cmdline(pid) for pid in before if _alive(pid)}
        assert not survivors, f"still running after down: {survivors}"
        assert runtime.processes() == set()
        assert not _port_open(settings.DEFAULT_HOST, settings.DEFAULT_PORT)
        assert not runtime.status().running
        assert "no process of it remains" in out.getvalue()
        assert "not running" in runtime.down(Ui(quiet=True)).message  # a second down is harmless
        left = runtime.paths.tmp / "left-by-an-earlier-run"
        left.write_text("scratch")
    finally:
        runtime.up(Ui(quiet=True), timeout=120)
    assert not left.exists(), "a new start keeps the scratch of the run before it"


# ------------------------------------------------------------------------------- stopping, without LocalStack

_STUBBORN = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('child', flush=True); signal.pause()"
child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
signal.pause()
"""


def test_down_escalates_to_sigkill_and_finds_children_in_other_sessions(tmp_path: Path) -> None:
    """Like LocalStack hanging after "bye", with a Java/Node-like child in a session of its own."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = HostRuntime(tmp_path, port=port)
    runtime.paths.run.mkdir(parents=True)
    instance = uuid4().hex
    env = {**os.environ, settings.INSTANCE_MARKER_VAR: instance, "FILESYSTEM_ROOT": str(runtime.paths.fs_root)}
    main = subprocess.Popen([sys.executable, "-c", _STUBBORN], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, text=True)
    try:
        child = int(main.stdout.readline())  # type: ignore[union-attr]
        record = RunRecord(main.pid, "127.0.0.1", port, instance, time.time(), str(tmp_path / "log"))
        runtime.paths.pid_file.write_text(json.dumps(record.__dict__))
        assert runtime.processes() == {main.pid, child}

        result = runtime.down(timeout=1, kill_timeout=10)

        assert result.was_running and sorted(result.killed) == sorted({main.pid, child})
        assert "SIGKILL" in result.message
        main.wait(timeout=10)
        assert not _alive(child) and runtime.processes() == set()
        assert not runtime.paths.pid_file.exists()
    finally:
        if main.poll() is None:
            main.kill()
            main.wait(timeout=10)
