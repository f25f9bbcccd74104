"""The embedded target's sandbox process: where its function environments keep their /tmp."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobkit.cli import main
from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError
from jobkit.processes import process_table, started_as
from jobkit.project import ROOT
from jobkit.targets import embedded
from jobkit.targets.common import reset_lines
from jobkit.targets.embedded import ENGINE_COMMAND, SCRATCH, EmbeddedSandbox, reset_in_place, scratch_for
from jobkit.ui import Ui
from tests.engine_process import engine_process


def _exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)
    return child.pid


def test_an_engine_gets_a_scratch_folder_and_those_of_engines_gone_are_cleared(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    gone = root / str(_exited_pid())
    (gone / "jobkit-lambda-fn-x").mkdir(parents=True)
    stray = root / "not-a-pid"
    stray.mkdir()
    alive = root / "1"  # init: a running engine's folder is never touched
    (alive / "kept").mkdir(parents=True)

    own = scratch_for(12345678, root)  # above pid_max: the folder of an engine that is starting now

    assert own == root / "12345678" and own.is_dir()
    assert not gone.exists() and not stray.exists()
    assert (alive / "kept").is_dir()


# a sandbox engine as `jobkit up --detach` runs it (serve), on a free port, until SIGTERM
SERVE = """
import signal, sys, threading
from pathlib import Path
from jobkit.targets.embedded import serve
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
serve(port=int(sys.argv[1]), outputs=Path(sys.argv[2]), stop=stop, on_ready=lambda *_: print("ready", flush=True))
"""


@pytest.mark.timeout(180)
def test_a_sandbox_keeps_its_functions_tmp_in_the_project_and_clears_it_when_stopped(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    child = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(tmp_path / "outputs.json")], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", f"the engine did not start (exit {child.poll()})"
        own = SCRATCH / str(child.pid)
        # the engine starts one environment of each function once ready (prewarm): each /tmp is in the project
        made = wait_for(lambda: sorted(own.glob("jobkit-lambda-*")), lambda found: len(found) >= 4, timeout=60,
                        describe="the prewarmed environments' /tmp folders under the sandbox's scratch")
        assert all(folder.is_dir() for folder in made)
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
    assert child.returncode == 0
    assert not own.exists(), "a stopped sandbox left its functions' /tmp folders"


@pytest.mark.timeout(180)
def test_down_stops_the_engine_up_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check that keeps ``down`` from signalling a reused pid still recognises the engine ``up`` started."""
    for name, path in (("DIR", tmp_path), ("PID_FILE", tmp_path / "engine.pid"), ("LOG", tmp_path / "engine.log"),
                       ("OUTPUTS_FILE", tmp_path / "cdk-outputs.json")):
        monkeypatch.setattr(embedded, name, path)  # not the files of a sandbox this project may be running
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = EmbeddedSandbox(port=port, time_scale=1.0)
    pid = None
    try:
        box.up(Ui(quiet=True))
        pid = int(embedded.PID_FILE.read_text())
        assert started_as(pid, ENGINE_COMMAND) and box.running()
        box.down(Ui(quiet=True))
        assert not embedded.PID_FILE.exists() and not box.running()
        assert all(p.state == "Z" for p in process_table().values() if p.pgid == pid)  # this test never reaps it
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with engine_process(tmp_path_factory.mktemp("sandbox")) as deployment:
        yield deployment


@pytest.mark.timeout(300)
def test_jobkit_reset_clears_the_running_sandbox_and_prints_what_went(
        sandbox: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ssm, sqs = sandbox.client("ssm"), sandbox.client("sqs")
    plan = sandbox["FaultPlanPrefix"] + "cli-reset"
    ssm.put_parameter(Name=plan, Type="String", Value="{}")
    url = sqs.create_queue(QueueName="cli-reset")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left over")
    port = int(str(sandbox.endpoint_url).rsplit(":", 1)[1])
    at = embedded.reset_in_place
    monkeypatch.setattr(embedded, "reset_in_place", lambda ui: at(ui, port=port))  # never the default port

    main(["reset"])

    printed = capsys.readouterr().out
    assert re.search(r"^reset in [0-9.]+ ms; every resource kept$", printed, re.MULTILINE), printed
    assert re.search(r"^  ssm +fault plans 1$", printed, re.MULTILINE), printed
    assert re.search(r"^  sqs +queues 1, messages 1$", printed, re.MULTILINE), printed
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=plan)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_jobkit_reset_without_a_sandbox_says_so_in_one_line() -> None:
    with pytest.raises(JobkitError, match=r"no embedded engine answers on 127\.0\.0\.1:9") as refused:
        reset_in_place(Ui(quiet=True), port=9)
    assert refused.value.hint == "start it with `jobkit up`"


def test_a_reset_summary_reads_one_line_per_service() -> None:
    summary = {"cleared": {"dynamodb": {"tables": 1, "items": 3, "streamRecords": 1_500_000},
                           "clock": {"offsetSeconds": 25200.0}, "sandbox": {"offsetSeconds": 0.25}},
               "milliseconds": 4.2}
    assert reset_lines(summary) == ["  dynamodb  tables 1, items 3, stream records 1500000",
                                    "  clock     offset seconds 25200",
                                    "  sandbox   offset seconds 0.25"]
