"""The embedded target: jobkit's own engine (jobkit.engine) serving the synthesized stack on 127.0.0.1:4566.

``jobkit up`` runs it in the foreground, in the CLI's own process, printing one line per hop; the pytest plugin
and ``jobkit up --detach`` run the same ``serve`` in a process group of its own, stopped with a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from jobkit.client.deployment import Deployment
from jobkit.deploy.synth import synth
from jobkit.errors import JobkitError
from jobkit.init_hooks import after_deploy, failed_hook_lines
from jobkit.live import LiveCode, Watcher, function_assets
from jobkit.processes import process_table, signal_group, started_as, state
from jobkit.project import OUTPUTS_FILE, ROOT, STATE_DIR
from jobkit.targets.common import LOCAL_CONTEXT
from jobkit.ui import Ui

if TYPE_CHECKING:
    from jobkit.engine.runtime import EmbeddedEngine

DIR = STATE_DIR / "embedded"
PID_FILE = DIR / "engine.pid"
LOG = DIR / "engine.log"
SCRATCH = DIR / "tmp"
PORT = 4566
#: the longest an in-place deployment may take (functions whose code changed start new environments lazily)
DEPLOY_TIMEOUT = 300
#: the longest ``jobkit reset`` waits for the engine's answer (a reset takes milliseconds; a deployment under way
#: holds it, and the engine answers 409 after a short wait)
RESET_TIMEOUT = 30
#: how ``EmbeddedSandbox`` starts the engine: what a pid file's process must run to be signalled
ENGINE_COMMAND = ("-m", "jobkit.targets.embedded")


def scratch_for(pid: int, root: Path = SCRATCH) -> Path:
    """The folder of the project where engine ``pid``'s function environments keep their /tmp. The folders of
    engines no longer running (killed before they could clear theirs) go first."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        if not (folder.name.isdigit() and state(int(folder.name)) not in (None, "Z")):
            shutil.rmtree(folder, ignore_errors=True)
    own = root / str(pid)
    own.mkdir(exist_ok=True)
    return own


def serve(*, port: int = PORT, outputs: Path = OUTPUTS_FILE, time_scale: float = 1.0,
          on_ready: Callable[[Deployment, float], None] = lambda _d, _s: None,
          stop: threading.Event | None = None, watch: bool = False, root: Path = ROOT) -> None:
    """Synthesizes (cached), starts the engine, runs the ready hooks (``jobkit.init_hooks``), calls ``on_ready``,
    serves until ``stop`` is set; with ``watch``, follows the project's handlers and stack while it serves
    (``jobkit.live``)."""
    from jobkit.engine.runtime import EmbeddedEngine

    began = time.monotonic()
    cdk_out, _ = synth(LOCAL_CONTEXT)
    scratch = scratch_for(os.getpid())
    engine = EmbeddedEngine(port=port, scratch=scratch)
    watcher = None
    try:
        try:
            engine.start(cdk_out, outputs_file=outputs, time_scale=time_scale)
        except OSError as exc:
            raise JobkitError(f"the embedded engine cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                              "is another sandbox running? `jobkit down`") from exc
        deployment = Deployment.load(outputs, target="embedded")
        # the ready hooks before the engine says it is ready: what they seed is there when the tests start
        after_deploy(deployment, lambda line: engine.hops("init", None, line), state=engine.init)
        if watch:
            watcher = follow(engine, deployment, scratch / "live", root).start()
        on_ready(deployment, time.monotonic() - began)
        (stop or threading.Event()).wait()
    finally:
        if watcher is not None:
            watcher.stop()
        engine.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def follow(engine: EmbeddedEngine, deployment: Deployment, snapshots: Path, root: Path = ROOT,
           synthesize: Callable[[], Path] = lambda: synth(LOCAL_CONTEXT)[0]) -> Watcher:
    """A watcher of the project for a running engine: handler saves reach the functions, stack saves are
    synthesized (``synthesize`` returns the cloud assembly) and applied in place; each reported as a hop line."""
    from jobkit.deploy.assembly import CloudAssembly

    def say(hop: str, detail: str) -> None:
        engine.hops(hop, None, detail)

    def live_code() -> LiveCode:
        assert engine.stack is not None
        registry = engine.stack.registry
        assembly = CloudAssembly.read(engine.template_dir)
        assets = function_assets(assembly.template, assembly.assets,
                                 lambda logical_id: registry.resources[logical_id].physical_id
                                 if logical_id in registry.resources else None, root)
        return LiveCode(assets, deployment.client("lambda"), snapshots, say, root, warm=warm)

    def warm(function: str) -> None:
        def run() -> None:
            with contextlib.suppress(Exception):  # a failed start only leaves the next invocation cold
                if engine.lambdas is not None:
                    engine.lambdas.function(function).local.prewarm()

        threading.Thread(target=run, daemon=True, name="jobkit-rewarm").start()

    def apply_stack() -> None:
        say("stack changed", "cdk synth")
        try:
            assembly = synthesize()
        except JobkitError as exc:
            say("stack not applied", f"{exc} (the stack that runs stays)")
            return
        changes = engine.deploy(assembly).summary()
        done = "; ".join(f"{verb} {', '.join(ids)}" for verb, ids in changes.items() if verb != "unchanged" and ids)
        say("stack applied", done or "no change")
        watcher.code = live_code()

    watcher = Watcher(live_code(), root / "stack", apply_stack, say)
    return watcher


class EmbeddedSandbox:
    """The engine as a background process group (pytest sessions, ``jobkit up --detach``)."""

    def __init__(self, port: int = PORT, time_scale: float | None = None) -> None:
        self.port = port
        self.time_scale = time_scale if time_scale is not None else float(os.environ.get("JOBKIT_TIME_SCALE", "1"))

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _recorded_pid(self) -> int | None:
        try:
            return int(PID_FILE.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    def _pid(self) -> int | None:
        """The engine the pid file names, if that pid still is the engine (not a pid reused since)."""
        pid = self._recorded_pid()
        return pid if pid is not None and started_as(pid, ENGINE_COMMAND) else None

    def running(self) -> bool:
        return self._pid() is not None

    def up(self, ui: Ui) -> Deployment:
        if self._pid() is not None:
            ui.say(f"the embedded engine is already running (pid {self._pid()}, {self.endpoint_url})")
            return Deployment.load(OUTPUTS_FILE, target="embedded")
        DIR.mkdir(parents=True, exist_ok=True)
        started = time.time()
        with LOG.open("w") as log, ui.step(f"starting the embedded engine on {self.endpoint_url}"):
            process = subprocess.Popen(
                [sys.executable, *ENGINE_COMMAND, "--port", str(self.port),
                 "--time-scale", str(self.time_scale), "--outputs", str(OUTPUTS_FILE)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            PID_FILE.write_text(str(process.pid), encoding="ascii")
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    PID_FILE.unlink(missing_ok=True)
                    tail = " | ".join(LOG.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
                    raise JobkitError(f"the embedded engine exited ({process.returncode}): {tail}", f"read {LOG}")
                if self._ready(started):
                    break
                if time.monotonic() > deadline:
                    self.down(ui)
                    raise JobkitError("the embedded engine was not ready within 120 s", f"read {LOG}")
                time.sleep(0.05)  # polling the child's health between checks, bounded by the deadline
        for line in failed_hook_lines(LOG.read_text(encoding="utf-8", errors="replace")):
            ui.say(line)
        return Deployment.load(OUTPUTS_FILE, target="embedded")

    def _ready(self, started: float) -> bool:
        """The stack deployed (its outputs file written since the start) and the ready hooks run: LocalStack's
        READY stage completed, as ``GET /_localstack/init`` says."""
        if not OUTPUTS_FILE.exists() or OUTPUTS_FILE.stat().st_mtime < started:
            return False
        try:
            answer = requests.get(f"{self.endpoint_url}/_localstack/init", timeout=1)
            return answer.ok and answer.json().get("completed", {}).get("READY") is True
        except (requests.RequestException, ValueError, AttributeError):
            return False

    def down(self, ui: Ui, timeout: float = 10.0) -> None:
        recorded = self._recorded_pid()
        pid = self._pid()
        if pid is None:
            PID_FILE.unlink(missing_ok=True)
            if recorded is None:
                ui.say("the embedded engine is not running")
            else:
                ui.say(f"the embedded engine is not running: removed its stale pid file (pid {recorded} is not "
                       "the engine; nothing signalled)")
            return
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.05)  # waiting for the group to exit, bounded by the deadline
        if _group_alive(pid):
            signal_group(pid, signal.SIGKILL)
        PID_FILE.unlink(missing_ok=True)
        ui.say(f"the embedded engine (pid {pid}) stopped")


def _post(endpoint_url: str, path: str, *, what: str, timeout: float, expected: str) -> dict[str, Any]:
    """``POST`` to one of the engine's own endpoints; its JSON answer, or one line saying why there is none
    (no engine, no answer in time, a refusal with the engine's message)."""
    address = endpoint_url.removeprefix("http://").rstrip("/")
    try:
        answer = requests.post(f"{endpoint_url.rstrip('/')}{path}", timeout=timeout)
    except requests.ConnectionError:
        raise JobkitError(f"no embedded engine answers on {address}", "start it with `jobkit up`") from None
    except requests.Timeout:
        raise JobkitError(f"the embedded engine on {address} did not answer {what} within {timeout:.0f} s",
                          f"read {LOG}") from None
    try:
        document = answer.json()
    except ValueError:
        document = None
    if answer.status_code != 200 or not isinstance(document, dict) or expected not in document:
        message = document.get("message") if isinstance(document, dict) else None
        raise JobkitError(f"the embedded engine on {address} refused {what} ({answer.status_code}): "
                          f"{message or answer.text[:200]}")
    return document


def deploy_in_place(ui: Ui, port: int = PORT) -> Deployment:
    """``jobkit deploy`` on a running sandbox: the stack synthesized again (if its sources changed) and applied to
    the engine in place, its data kept; the engine rewrites the outputs file."""
    with ui.step("cdk synth"):
        synth(LOCAL_CONTEXT)
    with ui.step(f"applying the stack to the embedded engine on 127.0.0.1:{port}"):
        document = _post(f"http://127.0.0.1:{port}", "/_jobkit/deploy", what="the stack", timeout=DEPLOY_TIMEOUT,
                         expected="changes")
    changed = {verb: ids for verb, ids in document["changes"].items() if verb != "unchanged" and ids}
    for verb, logical_ids in changed.items():
        ui.say(f"{verb}: {', '.join(logical_ids)}")
    if not changed:
        ui.say("no change: the running stack is the synthesized one")
    outputs = document["outputs"]  # as the engine wrote them to its outputs file
    return Deployment(target="embedded", outputs=outputs, endpoint_url=outputs["JobkitEndpointUrl"],
                      region=outputs["JobkitRegion"])


def reset_endpoint(endpoint_url: str) -> dict[str, Any]:
    """``POST /_jobkit/reset`` on the embedded engine at ``endpoint_url``: its data cleared, its resources kept.
    Returns the engine's summary (what was cleared, by service, and the milliseconds it took)."""
    return _post(endpoint_url, "/_jobkit/reset", what="the reset", timeout=RESET_TIMEOUT, expected="cleared")


def reset_in_place(ui: Ui, port: int = PORT) -> dict[str, Any]:
    """``jobkit reset``: the running sandbox's data cleared, every resource kept (``reset_endpoint``)."""
    with ui.step(f"resetting the embedded engine on 127.0.0.1:{port}"):
        return reset_endpoint(f"http://127.0.0.1:{port}")


def _group_alive(pgid: int) -> bool:
    # zombies do not count: the engine is one until its parent reaps it (the parent is this process when the
    # same process called up, as the benchmarks do)
    return any(p.pgid == pgid and p.state != "Z" for p in process_table().values())


def main() -> None:
    parser = argparse.ArgumentParser(description="jobkit's embedded engine (background process)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_FILE)
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve(port=args.port, outputs=args.outputs, time_scale=args.time_scale, stop=stop,
          on_ready=lambda d, s: print(json.dumps({"ready": True, "seconds": round(s, 2)}), flush=True))


if __name__ == "__main__":
    main()
