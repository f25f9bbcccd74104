"""An embedded engine in a process of its own, on a free port, as ``jobkit up --detach`` runs it (``serve``): for
tests that drive a sandbox from outside, as its users do. Its own process, because moto's state is per process
and a pytest process may hold the session engine of ``tests/engine`` already."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.project import ROOT

SERVE = """
import signal, sys, threading
from pathlib import Path
from jobkit.targets.embedded import serve
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
serve(port=int(sys.argv[1]), outputs=Path(sys.argv[2]), stop=stop, on_ready=lambda *_: print("ready", flush=True))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def engine_process(folder: Path, timeout: float = 180) -> Iterator[Deployment]:
    """The engine's deployment (its outputs file in ``folder``); its output (the hop log) goes to a file there,
    never to a pipe nobody reads."""
    outputs, log = folder / "cdk-outputs.json", folder / "engine.log"
    with log.open("w") as output:
        child = subprocess.Popen([sys.executable, "-c", SERVE, str(free_port()), str(outputs)], cwd=ROOT,
                                 stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: (child.poll(), log.read_text(errors="replace")),
                 lambda seen: seen[0] is not None or "ready" in seen[1].splitlines(), timeout=timeout,
                 describe="the engine process to be ready")
        assert child.poll() is None, f"the engine exited ({child.returncode}): {log.read_text()[-2000:]}"
        yield Deployment.load(outputs, target="embedded")
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(5)
