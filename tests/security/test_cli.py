"""The CLI against hostile files and hostile event data.

A file the user names (``replay --from-file``, ``--outputs``) may be anything: not UTF-8, a directory, a FIFO,
larger than memory, JSON nested past the parser's recursion, or a document of the wrong shape. Each ends in
one line on stderr naming the file and a non-zero exit, never a traceback or a hang. Event data (anyone who
can put events on the bus writes it) prints as plain text: brackets are not rich markup, control characters
do not reach the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from jobkit import cli
from jobkit import failed_events as failed_events_module
from jobkit import replay as replay_module
from jobkit.errors import JobkitError
from jobkit.failed_events import FailedEvent, read_jsonl
from jobkit.replay import ReplayResult
from jobkit.ui import Ui

MiB = 1024 * 1024
HOSTILE_TEXT = "[/x] [red]styled[/red] \x1b[2J\x1b]0;title\x07 \x9b31m"


def jobkit(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobkit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _event_line(**fields: Any) -> str:
    event = {"id": "e1", "time": "2026-01-01T00:00:00Z", "source": "lambda", "detail-type": "x", "detail": {}}
    event.update(fields)
    return json.dumps(event) + "\n"


def _sparse(size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as handle:  # a hole: no disk space, and nothing to read before refusing it
            handle.truncate(size)
    return write


# name: (how to make the file, what the one line says about it)
HOSTILE_EXPORTS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "not UTF-8": (lambda p: p.write_bytes(_event_line().encode() + b'{"detail": "\xff\xfe"}\n'), ":2 is not UTF-8"),
    "a directory": (lambda p: p.mkdir(), "is a directory"),
    "a FIFO": (os.mkfifo, "is not a regular file"),
    "nested 100000 deep": (lambda p: p.write_text("[" * 100_000 + "\n"), "nested deeper"),
    "larger than the cap": (_sparse(257 * MiB), "larger than 256 MiB"),
    "detail a string": (lambda p: p.write_text(_event_line(detail="s")), '"detail" must be an object'),
    "detail-type a number": (lambda p: p.write_text(_event_line(**{"detail-type": 5})), '"detail-type" must be'),
    "resources not a list": (lambda p: p.write_text(_event_line(resources="arn:x")), '"resources" must be'),
    "source an object": (lambda p: p.write_text(_event_line(source={})), '"source" must be a string'),
    "requestContext a string": (lambda p: p.write_text(_event_line(detail={"requestContext": "x"})),
                                '"detail.requestContext" must be'),
    "a job without an id": (lambda p: p.write_text(_event_line(detail={"jobkit": {"job": {"seconds": 1}}})),
                            '"detail.jobkit.job" must be'),
    "an item without an id": (lambda p: p.write_text(_event_line(detail={"jobkit": {"item": {"id": "x"}}})),
                              '"detail.jobkit.item" must be'),
}


def _assert_one_line_naming(proc: subprocess.CompletedProcess[str], path: Path, says: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and says in lines[0], lines[0]


@pytest.mark.parametrize("name", sorted(HOSTILE_EXPORTS))
def test_replay_from_a_hostile_file_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    make, says = HOSTILE_EXPORTS[name]
    export = tmp_path / "export.jsonl"
    make(export)
    # no target runs: the file is checked first
    proc = jobkit("replay", "--from-file", str(export), "--outputs", str(tmp_path / "no-outputs.json"))
    _assert_one_line_naming(proc, export, says)


@pytest.mark.parametrize("name", sorted(set(HOSTILE_EXPORTS) - {"a FIFO"}))  # the old reader blocked on one
def test_reading_a_hostile_export_is_a_jobkit_error_naming_it(tmp_path: Path, name: str) -> None:
    make, says = HOSTILE_EXPORTS[name]
    export = tmp_path / "export.jsonl"
    make(export)
    with pytest.raises(JobkitError) as raised:
        read_jsonl(export)
    assert str(export) in str(raised.value) and says in str(raised.value)


def _outputs(**outputs: Any) -> str:
    return json.dumps({"JobsStack": {"JobsApiUrl": "http://127.0.0.1:9/", "JobsApiInvokeRoleArn": "arn:r",
                                     "JobsTableName": "t", "JobkitTarget": "embedded", **outputs}})


HOSTILE_OUTPUTS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "not UTF-8": (lambda p: p.write_bytes(b'{"JobsStack": {"JobsApiUrl": "\xff"}}'), ":1 is not UTF-8"),
    "a directory": (lambda p: p.mkdir(), "is a directory"),
    "a FIFO": (os.mkfifo, "is not a regular file"),
    "nested 100000 deep": (lambda p: p.write_text("[" * 100_000), "nested deeper"),
    "larger than the cap": (_sparse(2 * MiB), "larger than 1 MiB"),
    "an output not a string": (lambda p: p.write_text(_outputs(JobkitEndpointUrl=9)),
                               "'JobkitEndpointUrl' is not a string"),
    "outputs a list": (lambda p: p.write_text(json.dumps({"JobsStack": ["JobsApiUrl"]})), "no object 'JobsStack'"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_a_hostile_outputs_file_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    make, says = HOSTILE_OUTPUTS[name]
    outputs = tmp_path / "cdk-outputs.json"
    make(outputs)
    proc = jobkit("failed-events", "list", "--outputs", str(outputs))
    _assert_one_line_naming(proc, outputs, says)


# ------------------------------------------------------------------------------ event data printed as plain text

def _terminal() -> tuple[Console, StringIO]:
    buffer = StringIO()
    return Console(file=buffer, force_terminal=True, color_system="standard", width=400), buffer


def _assert_printed_literally(printed: str) -> None:
    assert "[/x]" in printed and "[red]styled[/red]" in printed  # markup printed, not applied
    assert "\\x1b[2J" in printed and "\\x1b]0;title\\x07" in printed and "\\x9b31m" in printed
    assert "\x1b[2J" not in printed and "\x07" not in printed and "\x9b" not in printed
    assert "\x1b[31mstyled" not in printed  # the data's [red] turned nothing red


def test_plain_prints_markup_and_escapes_as_text() -> None:
    from jobkit.ui import plain

    console, buffer = _terminal()
    console.print(plain(HOSTILE_TEXT))
    _assert_printed_literally(buffer.getvalue())


def test_ui_say_prints_data_as_plain_text() -> None:
    console, buffer = _terminal()
    Ui(console=console).say(f"restored 1 job(s) this target did not have: {HOSTILE_TEXT}")
    _assert_printed_literally(buffer.getvalue())


class _Deployment:
    """What the commands read of a deployment, without a target."""

    def consumer_ids(self) -> list[str]:
        return ["consumer_1", "consumer_2"]


def _hostile_event() -> FailedEvent:
    return FailedEvent({
        "id": HOSTILE_TEXT, "time": "2026-01-01T00:00:00Z", "detail-type": "x",
        "detail": {"requestContext": {"functionArn": f"arn:aws:lambda:us-east-1:1:function:{HOSTILE_TEXT}:$LATEST"},
                   "responsePayload": {"errorType": "Boom", "errorMessage": HOSTILE_TEXT},
                   "jobkit": {"job": {"id": HOSTILE_TEXT, "seconds": 1}}},
    })


def test_the_failed_events_table_prints_event_data_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    console, buffer = _terminal()
    monkeypatch.setattr(cli, "out", console)
    monkeypatch.setattr(cli, "_deployment", lambda *_: _Deployment())
    monkeypatch.setattr(failed_events_module, "list_failed", lambda *_: [_hostile_event()])
    cli.failed_list(target="embedded", outputs=Path("unused.json"), since=None, until=None)
    _assert_printed_literally(buffer.getvalue())


def test_the_replay_table_prints_job_ids_and_statuses_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    console, buffer = _terminal()
    monkeypatch.setattr(cli, "out", console)
    monkeypatch.setattr(cli, "ui", Ui(quiet=True))
    monkeypatch.setattr(cli, "_deployment", lambda *_: _Deployment())
    result = ReplayResult("jobkit-1", "COMPLETED", [_hostile_event()],
                          {HOSTILE_TEXT: {"consumer_1": {"status": HOSTILE_TEXT}, "consumer_2": "not a map"}})
    monkeypatch.setattr(replay_module, "replay_archive", lambda *_, **__: result)
    cli.replay(target="embedded", outputs=Path("unused.json"), since=None, until=None, archive=None, from_file=None)
    _assert_printed_literally(buffer.getvalue())


def test_the_scenarios_table_prints_the_detail_as_plain_text() -> None:
    from scenarios._runner import FAILED, Outcome, discover

    scenario = next(iter(discover().values()))
    console, buffer = _terminal()
    console.print(cli._table([Outcome(scenario, FAILED, 1.0, f"AssertionError: {HOSTILE_TEXT}")], "embedded"))
    _assert_printed_literally(buffer.getvalue())
