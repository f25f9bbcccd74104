"""Restart: failures exported from one engine are replayable into a fresh one, which works.

Each engine runs in a child process (as ``jobkit up --detach`` runs it): moto's backends are global to a
process, so only a new process is a really fresh sandbox. Engine A: a job whose first consumer's processor
and error handler both raise; its failure reaches the captured failed events; it is exported
(``export_jsonl``) and A is stopped (SIGTERM). Engine B, fresh, on the same port: ``replay_file`` restores
the job and re-drives the failure, so the job shows ``Failure`` for that consumer; a new job there succeeds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.failed_events import export_jsonl, job_of, list_failed, read_jsonl
from jobkit.replay import replay_file
from scenarios._context import FaultPlans
from tests.reliability.conftest import CDK_OUT, ROOT, TIME_SCALE, table_count

# the child: an EmbeddedEngine from cdk.out on the given port, hop output silenced, until SIGTERM
CHILD = """
import signal, sys, threading
from jobkit.engine.runtime import EmbeddedEngine
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
engine = EmbeddedEngine(port=int(sys.argv[1]), out=None)
engine.start(sys.argv[2], sys.argv[3], time_scale=float(sys.argv[4]))
print("ready", flush=True)
stop.wait()
engine.stop()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def engine_process(port: int, outputs: Path) -> Iterator[Deployment]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(CDK_OUT), str(outputs), str(TIME_SCALE)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the engine is ready or the child died
        assert line.strip() == "ready", f"the engine on port {port} did not start (exit {child.poll()})"
        yield Deployment.load(outputs, target="embedded")
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def test_failed_events_exported_before_a_restart_replay_into_the_fresh_sandbox(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    if not (CDK_OUT / "JobsStack.template.json").is_file():
        pytest.skip("cdk.out is not synthesized (make synth)")
    folder = tmp_path_factory.mktemp("restart")
    export = folder / "failed.jsonl"
    port = free_port()
    with engine_process(port, folder / "a-outputs.json") as first:
        api = JobsApi.for_deployment(first)
        consumers = first.consumer_ids()
        faulted, others = consumers[0], consumers[1:]
        started = datetime.now(UTC) - timedelta(seconds=2)
        plan = FaultPlans(first, "restart").put(
            "eh", {"where": "processor", "kind": "raise", "consumers": [faulted]},
            {"where": "error_handler", "kind": "raise", "consumers": [faulted]})
        job = api.submit(1, fault=plan)
        wait_for(lambda: [e for e in list_failed(first) if (j := job_of(first, e)) and j["id"] == job],
                 bool, timeout=30, describe=f"the failure of job {job} among the captured failed events")
        seen = api.wait_for_statuses(job, dict.fromkeys(others, "Success"), timeout=30)
        assert seen[faulted]["status"] == "Running"  # its error handler failed: no Failure yet
        assert export_jsonl(first, export, since=started) == 1
    assert [e.job for e in read_jsonl(export)] == [{"id": job, "seconds": 1}]

    with engine_process(port, folder / "b-outputs.json") as second:  # same port: the first one let it go
        api = JobsApi.for_deployment(second)
        assert table_count(second) == 0  # a clean sandbox: nothing of the first one
        fresh = api.submit(1)  # the restarted sandbox works
        done = api.wait_for_statuses(fresh, dict.fromkeys(consumers, "Success"), timeout=30)
        assert {v["results"] for v in done.values()} == {"I slept for 1 seconds"}
        result = replay_file(second, export, timeout=15)
        assert result.state == "COMPLETED"
        seen = api.wait_for_statuses(job, {faulted: "Failure"}, timeout=15)
        assert seen[faulted].get("seconds") == 1, seen
