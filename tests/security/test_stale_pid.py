"""``jobkit down`` after the engine died: the pid file outlives its process and the pid may by now be any process
of the user. Nothing is signalled unless the pid is still the engine the target started (its command, in a
process group of its own); a stale pid file is removed with one line saying so."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from io import StringIO
from pathlib import Path
from uuid import uuid4

import pytest
from rich.console import Console

from jobkit.targets import embedded
from jobkit.targets.localstack import host
from jobkit.targets.localstack.host import HostRuntime, RunRecord
from jobkit.ui import Ui


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """Another process of the user, leading a process group of its own (as a shell's job does)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                               stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"up\n"  # it runs its own program
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _ui() -> tuple[Ui, StringIO]:
    out = StringIO()
    return Ui(console=Console(file=out, width=300)), out


def _one_line(out: StringIO) -> str:
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, out.getvalue()
    return lines[0]


def test_embedded_down_signals_nothing_a_stale_pid_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              bystander: subprocess.Popen[bytes]) -> None:
    # the sandbox's own files, not those of a sandbox this project may be running
    monkeypatch.setattr(embedded, "DIR", tmp_path)
    monkeypatch.setattr(embedded, "PID_FILE", tmp_path / "engine.pid")
    monkeypatch.setattr(embedded, "LOG", tmp_path / "engine.log")
    embedded.PID_FILE.write_text(str(bystander.pid))
    ui, out = _ui()

    embedded.EmbeddedSandbox().down(ui, timeout=2)

    assert bystander.poll() is None, "down signalled a process that is not the engine"
    assert not embedded.PID_FILE.exists()
    line = _one_line(out)
    assert "stale pid file" in line and str(bystander.pid) in line


def test_localstack_host_down_signals_nothing_a_stale_pid_file_names(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    bystander: subprocess.Popen[bytes]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = HostRuntime(tmp_path, port=port)
    runtime.paths.run.mkdir(parents=True)
    record = RunRecord(bystander.pid, "127.0.0.1", port, uuid4().hex, time.time(), str(tmp_path / "log"))
    runtime.paths.pid_file.write_text(json.dumps(record.__dict__))
    # a process whose environment cannot be read: no /proc (macOS), or one of the user's that is not dumpable
    monkeypatch.setattr(host, "_environ", lambda pid: {})
    ui, out = _ui()

    result = runtime.down(ui, timeout=2, kill_timeout=2)

    assert bystander.poll() is None, "down signalled a process that is not the engine"
    assert not result.was_running and not runtime.paths.pid_file.exists()
    line = _one_line(out)
    assert "stale pid file" in line and str(bystander.pid) in line
