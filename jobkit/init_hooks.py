"""Init hooks: the project's scripts run once a local target's stack is deployed, LocalStack's ``ready.d``
convention (https://docs.localstack.cloud/references/init-hooks).

The scripts are in ``scripts/init/ready.d/`` (another folder with ``JOBKIT_INIT_DIR``): ``.sh`` files (executable,
with a shebang) and ``.py`` files, run in alphanumerical order, a folder's own scripts before its subfolders',
which are walked in order, depth first; a failing script does not stop the others. Each runs with the
environment of ``jobkit env`` (the deployment's endpoint, region and keys) and a deadline
(``JOBKIT_INIT_TIMEOUT`` seconds): past it, its whole process group is killed and the script is in ERROR.

Where LocalStack differs: it runs ``.py`` scripts inside its own interpreter; jobkit runs them as programs with
the project's Python (they reach the engine through its AWS APIs, like the shell scripts).

``InitState`` is what ``GET /_localstack/init`` answers, in LocalStack's shape: each stage's completion and each
script's stage, name and state (UNKNOWN, RUNNING, SUCCESSFUL, ERROR).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobkit.errors import JobkitError
from jobkit.project import ROOT, STATE_DIR
from jobkit.text import printable

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from jobkit.client.deployment import Deployment

INIT_DIR_ENV = "JOBKIT_INIT_DIR"
TIMEOUT_ENV = "JOBKIT_INIT_TIMEOUT"
#: the project's ready hooks, where LocalStack mounts its own (``/etc/localstack/init/ready.d``)
DEFAULT_DIR = ROOT / "scripts" / "init" / "ready.d"
#: each hook's output, one file per hook (a failing one's last lines are also said)
LOGS = STATE_DIR / "init" / "ready.d"
DEFAULT_TIMEOUT = 300.0
#: LocalStack's stages, in their order (the init hooks page: BOOT, START, READY, SHUTDOWN)
STAGES = ("BOOT", "START", "READY", "SHUTDOWN")
#: the known script extensions (LocalStack's: ``.sh`` and ``.py``); any other file is not a hook
EXTENSIONS = (".sh", ".py")
UNKNOWN, RUNNING, SUCCESSFUL, ERROR = "UNKNOWN", "RUNNING", "SUCCESSFUL", "ERROR"
#: how much of a failing hook's output its line quotes
TAIL_LINES = 3


def init_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder of the ready hooks: ``JOBKIT_INIT_DIR`` if set, else the project's ``scripts/init/ready.d``."""
    given = environ.get(INIT_DIR_ENV, "").strip()
    return Path(given).expanduser() if given else DEFAULT_DIR


def hook_timeout(environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise JobkitError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def discover(folder: Path) -> list[Path]:
    """The hooks of ``folder`` in LocalStack's order: its own scripts sorted by name, then each subfolder's,
    the subfolders in order, depth first. No folder: no hooks."""
    if not folder.is_dir():
        return []
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    scripts = [p for p in entries if p.is_file() and p.suffix in EXTENSIONS]
    for sub in entries:
        if sub.is_dir():
            scripts.extend(discover(sub))
    return scripts


@dataclass
class Script:
    stage: str
    name: str
    state: str = UNKNOWN

    def as_json(self) -> dict[str, str]:
        return {"stage": self.stage, "name": self.name, "state": self.state}


@dataclass
class InitState:
    """The stages' completion and the scripts' states, as ``GET /_localstack/init`` answers them. The engine is
    past BOOT and START once it serves; READY completes when its ready hooks have run."""

    completed: dict[str, bool] = field(default_factory=lambda: {"BOOT": True, "START": True, "READY": False,
                                                                "SHUTDOWN": False})
    scripts: list[Script] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def document(self) -> dict[str, Any]:
        with self._lock:
            return {"completed": dict(self.completed), "scripts": [s.as_json() for s in self.scripts]}

    def stage_document(self, stage: str) -> dict[str, Any]:
        with self._lock:
            return {"completed": self.completed[stage],
                    "scripts": [s.as_json() for s in self.scripts if s.stage == stage]}

    def set(self, script: Script, state: str) -> None:
        with self._lock:
            script.state = state

    def discovered(self, scripts: list[Script]) -> None:
        with self._lock:
            self.scripts = [s for s in self.scripts if s.stage != "READY"] + scripts
            self.completed["READY"] = False

    def finish(self, stage: str) -> None:
        with self._lock:
            self.completed[stage] = True

    def routes(self) -> dict[str, Callable[[Request], Response]]:
        """``/_localstack/init`` and ``/_localstack/init/<stage>`` (LocalStack takes the stage in any case)."""
        routes: dict[str, Callable[[Request], Response]] = {"/_localstack/init": self._all_http}
        for stage in STAGES:
            for spelled in (stage, stage.lower()):
                routes[f"/_localstack/init/{spelled}"] = lambda _request, s=stage: self._json(  # type: ignore[misc]
                    self.stage_document(s))
        return routes

    def _all_http(self, _request: Request) -> Response:
        return self._json(self.document())

    @staticmethod
    def _json(document: dict[str, Any]) -> Response:
        from werkzeug.wrappers import Response

        return Response(json.dumps(document), content_type="application/json")


@dataclass(frozen=True)
class HookResult:
    path: Path
    name: str
    state: str
    #: what the line of a failing hook says after its name: exit status or deadline, and its output's last lines
    detail: str = ""
    log: Path | None = None

    @property
    def line(self) -> str:
        if self.state == SUCCESSFUL:
            return f"init hook {self.name}: done"
        return f"init hook {self.name} failed: {self.detail}" + (f" (output: {self.log})" if self.log else "")


def _command(script: Path) -> list[str] | str:
    """How a hook is started; a str is why it cannot be."""
    if script.suffix == ".py":
        return [sys.executable, str(script)]
    if not os.access(script, os.X_OK):
        # LocalStack runs a shell script as a program: it must be executable and have a shebang
        return "not executable (chmod +x it; it needs a #! line too)"
    return [str(script)]


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return printable(" | ".join(line.strip() for line in lines[-TAIL_LINES:]))


def run_hook(script: Path, env: Mapping[str, str], *, timeout: float, name: str, log: Path,
             cwd: Path = ROOT) -> HookResult:
    """Runs one hook in a process group of its own, its output to ``log``; past ``timeout`` the whole group is
    killed (a hook's own children included)."""
    command = _command(script)
    if isinstance(command, str):
        return HookResult(script, name, ERROR, command)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return HookResult(script, name, ERROR, f"cannot start it: {exc.strerror or exc}")
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            tail = _tail(log)
            return HookResult(script, name, ERROR, f"killed at its deadline of {timeout:g} s"
                              + (f": {tail}" if tail else ""), log)
    if code == 0:
        return HookResult(script, name, SUCCESSFUL, log=log)
    tail = _tail(log)
    status = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return HookResult(script, name, ERROR, status + (f": {tail}" if tail else ""), log)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_ready_hooks(env: Mapping[str, str], say: Callable[[str], None], *, folder: Path | None = None,
                    state: InitState | None = None, timeout: float | None = None,
                    logs: Path = LOGS) -> list[HookResult]:
    """Runs every ready hook in order, each reported in one line through ``say`` (a failing one with its exit
    status and its output's last lines); the engine and the other hooks go on. ``state`` follows along."""
    folder = folder if folder is not None else init_dir()
    timeout = timeout if timeout is not None else hook_timeout()
    found = discover(folder)
    state = state if state is not None else InitState()
    scripts = [Script("READY", path.name) for path in found]
    state.discovered(scripts)
    results = []
    for path, script in zip(found, scripts, strict=True):
        relative = path.relative_to(folder)
        state.set(script, RUNNING)
        began = time.monotonic()
        result = run_hook(path, env, timeout=timeout, name=str(relative), log=logs / f"{relative}.log")
        state.set(script, result.state)
        say(result.line if result.state != SUCCESSFUL else f"{result.line} in {time.monotonic() - began:.1f} s")
        results.append(result)
    state.finish("READY")
    return results


#: how the engine's hop log tells a hook's line (``serve`` says each through ``engine.hops("init", ...)``)
_HOP = "| init | "


def failed_hook_lines(engine_log: str) -> list[str]:
    """The failing hooks' lines in a background engine's log: what ``jobkit up --detach`` repeats."""
    return [line.split(_HOP, 1)[1] for line in engine_log.splitlines()
            if _HOP in line and line.split(_HOP, 1)[1].startswith("init hook ") and " failed: " in line]


def hook_environment(deployment: Deployment, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """This process's environment with the exports of ``jobkit env`` for ``deployment`` over it."""
    from jobkit.client.environment import exports

    return {**base, **exports(deployment, "the outputs file")}


def after_deploy(deployment: Deployment, say: Callable[[str], None],
                 state: InitState | None = None) -> list[HookResult]:
    """The ready hooks of a deployment jobkit just made on a local target."""
    return run_ready_hooks(hook_environment(deployment), say, state=state)
