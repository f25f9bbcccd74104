"""``jobkit logs``: the stack's functions' CloudWatch Logs lines, once or followed until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError
from jobkit.function_logs import LogReader, StackFunction, log_group, parse_since, resolve, stack_functions
from tests.cli.conftest import BOTH, Cli

LINE = re.compile(r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<function>[a-z0-9-]+) +(?P<message>.*)")


def lines_of(text: str) -> list[re.Match[str]]:
    matches = [LINE.fullmatch(line) for line in text.splitlines()]
    assert all(matches), text
    return [m for m in matches if m]


def test_a_functions_lines_of_a_job_it_ran(cli: Cli, outputs_file: Path, finished_job: str) -> None:
    ran = cli("logs", "consumer1", "--since", "5m", "--outputs", str(outputs_file))
    assert ran.code == 0, ran.err
    lines = lines_of(ran.out)
    assert {m["function"] for m in lines} == {"consumer1"}
    mine = [m["message"] for m in lines if finished_job in m["message"]]
    assert any('"message":"job succeeded"' in message for message in mine), ran.out
    assert [m["time"] for m in lines] == sorted(m["time"] for m in lines)


def test_every_function_of_the_stack_when_none_is_named(cli: Cli, outputs_file: Path, finished_job: str) -> None:
    ran = cli("logs", "--since", "5m", "--outputs", str(outputs_file))
    assert ran.code == 0, ran.err
    assert {m["function"] for m in lines_of(ran.out) if finished_job in m["message"]} == {"consumer1", "consumer2"}


def test_a_function_is_named_by_short_name_function_name_or_arn(deployment: Deployment) -> None:
    consumer1 = StackFunction("consumer1", deployment["Consumer1FunctionName"])
    arn = deployment.client("lambda").get_function_configuration(FunctionName=consumer1.name)["FunctionArn"]
    for ref in ("consumer1", "Consumer1", "CONSUMER_1", consumer1.name, arn, f"{arn}:$LATEST"):
        assert resolve(deployment, ref) == [consumer1], ref
    assert [f.short for f in stack_functions(deployment)] == ["consumer1", "consumer2", "error-handler1",
                                                              "error-handler2"]


def test_an_unknown_function_is_one_line_naming_the_known_ones(cli: Cli, outputs_file: Path) -> None:
    ran = cli("logs", "consumer9", "--outputs", str(outputs_file))
    assert ran.code == 2 and ran.out == ""
    assert ran.err.strip().splitlines() == [
        "jobkit: unknown function 'consumer9' (the stack's functions: consumer1, consumer2, error-handler1, "
        "error-handler2, or their names or ARNs)"]


@pytest.mark.parametrize("since", ["yesterday", "10x", "-5m", "99999999d", ""])
def test_a_bad_since_is_one_line(cli: Cli, since: str) -> None:
    # checked before the deployment is looked for
    ran = cli("logs", "--since", since, "--outputs", "/nonexistent/cdk-outputs.json")
    assert ran.code == 2 and ran.out == ""
    [line] = ran.err.strip().splitlines()
    assert line.startswith("jobkit: --since") and "e.g. 30s, 10m" in line


def test_since_takes_a_duration_or_an_iso_time() -> None:
    now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert parse_since("30s", now) == now - timedelta(seconds=30)
    assert parse_since("10m", now) == now - timedelta(minutes=10)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("2026-11-25T12:00:00Z", now) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_since("2026-11-25T12:00:00", now) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_since("2026-11-25T14:00:00+02:00", now) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    with pytest.raises(JobkitError, match="not a duration"):
        parse_since("5 minutes", now)


def _new_stream(deployment: Deployment, function: StackFunction) -> tuple[str, str]:
    """A stream of the test's own in the function's log group (made if the function has not logged yet)."""
    logs = deployment.client("logs")
    group, stream = log_group(deployment, function), f"test-{uuid.uuid4().hex}"
    if not any(g["logGroupName"] == group for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group, stream


def _put(deployment: Deployment, group: str, stream: str, messages: list[str], at: int) -> None:
    deployment.client("logs").put_log_events(logGroupName=group, logStreamName=stream,
                                             logEvents=[{"timestamp": at, "message": m} for m in messages])


def test_messages_are_printed_as_plain_text(cli: Cli, outputs_file: Path, deployment: Deployment) -> None:
    group, stream = _new_stream(deployment, resolve(deployment, "error-handler2")[0])
    _put(deployment, group, stream, ["\x1b[2J[bold]cleared\x07\tfield\n"], int(time.time() * 1000))
    ran = cli("logs", "error-handler2", "--since", "1m", "--outputs", str(outputs_file))
    assert ran.code == 0, ran.err
    assert "error-handler2 \\x1b[2J[bold]cleared\\x07 field" in ran.out
    assert "\x1b" not in ran.out and "\x07" not in ran.out


def test_a_follow_reads_each_line_once_even_at_the_same_millisecond(deployment: Deployment) -> None:
    [function] = resolve(deployment, "error-handler1")
    group, stream = _new_stream(deployment, function)
    at = int(time.time() * 1000)
    reader = LogReader.of(deployment, [function], datetime.fromtimestamp(at / 1000, UTC))
    _put(deployment, group, stream, ["first", "second"], at)
    assert [line.message for line in reader.poll() if line.timestamp >= at] == ["first", "second"]
    _put(deployment, group, stream, ["third"], at)  # stored after the read, in the same millisecond
    assert [line.message for line in reader.poll()] == ["third"]
    assert reader.poll() == []


def test_follow_prints_new_lines_until_ctrl_c(outputs_file: Path, api: JobsApi, finished_job: str,
                                              tmp_path: Path) -> None:
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        # a process group of its own: Ctrl-C is SIGINT to the terminal's foreground group
        follower = subprocess.Popen([sys.executable, "-m", "jobkit.cli", "logs", "consumer2", "-f", "--since", "5m",
                                     "--outputs", str(outputs_file)], stdout=out, stderr=err,
                                    start_new_session=True)
    try:
        # the job before the start, from the first read; then one submitted while it follows
        wait_for(stdout.read_text, lambda text: finished_job in text, timeout=60,
                 describe="the earlier job's lines")
        later = api.submit(1)
        api.wait_for_statuses(later, BOTH, timeout=60)
        wait_for(stdout.read_text, lambda text: any(later in line and '"job succeeded"' in line
                                                    for line in text.splitlines()),
                 timeout=30, describe="the later job's lines")
        assert follower.poll() is None
        os.killpg(follower.pid, signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            os.killpg(follower.pid, signal.SIGKILL)
            follower.wait(timeout=30)
    assert "Traceback" not in stderr.read_text() and stderr.read_text() == ""
    lines = lines_of(stdout.read_text())
    assert {m["function"] for m in lines} == {"consumer2"}
    messages = [m["message"] for m in lines]
    assert len(messages) == len(set(messages)), "a line printed twice"
