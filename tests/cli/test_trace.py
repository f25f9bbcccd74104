"""``jobkit trace``: a bad job id or no sandbox is one line; a trace prints as a timeline (time, +ms since the
previous hop, service, hop, detail). Against a running engine: ``tests/engine/test_job_traces.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from jobkit.cli import _trace_table
from jobkit.client.traces import as_text, rows


def jobkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobkit.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (["trace", "a b"], "not a job id: 'a b'"),
    (["trace", "x" * 129], "not a job id"),
    (["trace", "\x1b[2Jjob"], "not a job id: '\\\\x1b[2Jjob'"),
    (["trace", "some-job", "--outputs", "/nonexistent/cdk-outputs.json"], "no deployment found"),
    (["trace", "some-job", "--target", "mars"], "unknown target 'mars'"),
])
def test_a_bad_job_id_or_no_sandbox_is_one_line(args: list[str], says: str) -> None:
    proc = jobkit(*args)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert says in lines[0] and "\x1b" not in proc.stderr


def test_a_target_that_is_not_up_is_one_line(tmp_path: Path) -> None:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text('{"JobsStack": {"JobsApiUrl": "http://127.0.0.1:9/", "JobsApiInvokeRoleArn": "r", '
                       '"JobsTableName": "t", "JobkitTarget": "embedded", "JobkitEndpointUrl": "http://127.0.0.1:9"}}')
    proc = jobkit("trace", "some-job", "--outputs", str(outputs))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not up" in proc.stderr


TRACE = {"jobId": "j-1", "hops": [
    {"at": "2026-01-02T03:04:05.100Z", "service": "apigateway", "hop": "request", "detail": "POST /jobs -> 200"},
    {"at": "2026-01-02T03:04:05.112Z", "service": "dynamodb", "hop": "item written", "detail": "version 0"},
    {"at": "2026-01-02T03:04:06.000Z", "service": "lambda", "hop": "consumer invoked",
     "detail": "Consumer1 error InjectedFault (attempt 1)", "error": {"type": "InjectedFault", "message": "boom"},
     "logs": "START\n\x1b[31mred\nREPORT"},
]}


def test_the_rows_give_the_time_and_the_milliseconds_since_the_previous_hop() -> None:
    assert rows(TRACE) == [
        ("03:04:05.100", "", "apigateway", "request", "POST /jobs -> 200"),
        ("03:04:05.112", "+12", "dynamodb", "item written", "version 0"),
        ("03:04:06.000", "+888", "lambda", "consumer invoked",
         "Consumer1 error InjectedFault (attempt 1) | InjectedFault: boom"),
    ]


def test_the_table_prints_every_hop_as_plain_text() -> None:
    console = Console(width=200, record=True, force_terminal=False)
    console.print(_trace_table({**TRACE, "jobId": "j-[bold]1"}))
    text = console.export_text()
    for cell in ("time", "+ms", "service", "03:04:05.112", "+888", "item written", "InjectedFault: boom",
                 "j-[bold]1"):
        assert cell in text, text


def test_the_text_form_escapes_log_lines() -> None:
    text = as_text(TRACE)
    assert "consumer invoked" in text and "    | \\x1b[31mred" in text and "\x1b" not in text
