"""The LocalStack target's host runtime: LocalStack's engine as a process of this machine, without Docker.

``HostRuntime(project_dir).up(ui)`` builds the engine's environment if needed (environment.py), starts
``python -m localstack.runtime.main`` in the engine's venv, in a session and process group of its own,
with the settings of settings.py and its output in ``.jobkit/localstack/logs/localstack.log``, and waits
until ``/_localstack/health`` reports every service of the stack usable. ``down()`` stops all of it and
verifies that nothing is left. ``status()`` reports.

Why stopping takes care: LocalStack starts DynamoDB Local (Java) and kinesis-local (Node) with
``start_new_session=True``, so they are not in the engine's process group; and after SIGTERM the main
process prints "bye" and then hangs in about 3 of 5 stops. The runtime therefore tracks every process of
one engine instance (its process group, its descendants, and whatever carries the instance's marker in its
environment, orphans included) and escalates to SIGKILL at a deadline.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import requests

from jobkit.client.waiting import WaitTimeout, wait_for
from jobkit.errors import JobkitError
from jobkit.processes import descendants, process_table, signal_group, started_as
from jobkit.sandbox import REGION
from jobkit.targets.localstack import environment, settings
from jobkit.targets.localstack.settings import EnginePaths
from jobkit.ui import Ui

USABLE_STATES = frozenset({"available", "running"})
#: LocalStack's own entry point; jobkit's fixes load as its plugins (patches.py, cfn_providers.py).
ENGINE_MODULE = "localstack.runtime.main"


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP listener on ``port`` (Linux /proc/net; empty elsewhere)."""
    found: set[str] = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            address, hex_port = parts[1].rsplit(":", 1)
            if parts[3] != "0A" or int(hex_port, 16) != port:  # 0A = LISTEN
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
            else:
                words = [bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, 32, 8)]
                found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


# -------------------------------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class RunRecord:
    """The pid file: which engine instance this project started, and where."""

    pid: int
    host: str
    port: int
    instance: str
    started: float
    log: str


@dataclass
class HostStatus:
    running: bool
    endpoint_url: str
    pid: int | None = None
    healthy: bool = False
    services: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    message: str = ""


@dataclass
class UpResult:
    started: bool  # False: one was already running
    pid: int
    endpoint_url: str
    seconds: float
    message: str


@dataclass
class DownResult:
    was_running: bool
    killed: list[int]  # pids that needed SIGKILL
    seconds: float
    message: str
    count: int = 0  # processes found and stopped


class HostRuntime:
    """Start, stop and inspect this project's LocalStack engine on this machine (see the module doc)."""

    def __init__(self, project_dir: Path, *, port: int = settings.DEFAULT_PORT, host: str = settings.DEFAULT_HOST,
                 region: str = REGION) -> None:
        self.project_dir = project_dir.resolve()
        self.paths = EnginePaths(self.project_dir)
        self.host = host
        self.port = port
        self.region = region
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -------------------------------------------------------------------------------------------- public

    def up(self, ui: Ui | None = None, *, timeout: float = 120.0) -> UpResult:
        """Starts the engine and waits until it is healthy; a second ``up`` says so and returns."""
        with self._locked():
            return self._up(ui or Ui(quiet=True), timeout)

    def down(self, ui: Ui | None = None, *, timeout: float = 10.0, kill_timeout: float = 10.0) -> DownResult:
        """SIGTERM to the engine's group, SIGKILL to whatever is left at ``timeout``; verifies none remain."""
        ui = ui or Ui(quiet=True)
        with self._locked():
            record = self._record()
            result = self._stop_instance(record, timeout=timeout, kill_timeout=kill_timeout)
            if record is not None and not result.was_running:
                result.message += (f"; removed its stale pid file (pid {record.pid} is not the engine; "
                                   "nothing signalled)")
            self.paths.pid_file.unlink(missing_ok=True)
        ui.say(result.message)
        return result

    def _up(self, ui: Ui, timeout: float) -> UpResult:
        started = time.monotonic()
        record = self._record()
        if record and self._owns(record):
            if (record.host, record.port) != (self.host, self.port):
                raise JobkitError(f"this project's LocalStack already runs on {record.host}:{record.port} "
                                  f"(pid {record.pid})", "stop it first (jobkit down), or use that address")
            self._wait_healthy(record.pid, timeout)
            message = (f"LocalStack (host) is already running: pid {record.pid}, {self.endpoint_url}, "
                       f"log {record.log}")
            ui.say(message)
            return UpResult(False, record.pid, self.endpoint_url, time.monotonic() - started, message)
        leftovers = self._stop_instance(record, timeout=5.0)
        if leftovers.was_running:
            ui.say(f"stopped {leftovers.count} leftover process(es) of an earlier run of this project's engine")
        self.paths.pid_file.unlink(missing_ok=True)
        if _port_open(self.host, self.port):
            what = "a LocalStack not started by this project" if self._health() else "another process"
            raise JobkitError(f"port {self.port} on {self.host} is taken by {what}",
                              "stop it, or start jobkit's on another port")

        env_info = environment.ensure(self.project_dir, ui)
        process = self._spawn(env_info)
        waiting = f"waiting for LocalStack (pid {process.pid}) to be healthy ..."
        try:
            with nullcontext() if ui.quiet else ui.console.status(waiting):
                self._wait_healthy(process.pid, timeout)
        except BaseException:  # a failed or interrupted start leaves nothing running
            self._stop_instance(self._record(), timeout=5.0)
            self.paths.pid_file.unlink(missing_ok=True)
            raise
        seconds = time.monotonic() - started
        message = (f"LocalStack (host) healthy on {self.endpoint_url} in {seconds:.1f} s "
                   f"(pid {process.pid}, log {self.paths.engine_log})")
        ui.done(message)
        return UpResult(True, process.pid, self.endpoint_url, seconds, message)

    def status(self) -> HostStatus:
        record = self._record()
        if not record or not self._owns(record):
            return HostStatus(False, self.endpoint_url, message="LocalStack (host) is not running")
        health = self._health()
        services = {k: v for k, v in (health or {}).get("services", {}).items() if v != "disabled"}
        healthy = self._usable(health)
        state = "healthy" if healthy else "not healthy yet"
        return HostStatus(True, self.endpoint_url, record.pid, healthy, services, Path(record.log),
                          f"LocalStack (host) running, {state}: pid {record.pid}, {self.endpoint_url}")

    def processes(self) -> set[int]:
        """Every live process of this project's engine (for checks: empty after ``down``)."""
        return self._family(self._record())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up``/``down`` of this project at a time (CLI and a test session may race)."""
        self.paths.run.mkdir(parents=True, exist_ok=True)
        with (self.paths.run / "lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ----------------------------------------------------------------------------------------- starting

    def _spawn(self, env_info: environment.EngineEnvironment) -> subprocess.Popen[bytes]:
        paths = self.paths
        # the scratch of an earlier run goes (no instance runs now): LocalStack unpacks every function's code
        # there on each deployment (~6 MB a function) and nothing of a run is kept for the next one
        shutil.rmtree(paths.tmp, ignore_errors=True)
        for folder in (paths.logs, paths.run, paths.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        log = paths.engine_log
        if log.exists():
            log.replace(log.with_name("localstack.previous.log"))
        instance = uuid4().hex
        env = settings.engine_environment(paths, port=self.port, java_home=env_info.java_home,
                                          instance=instance, host=self.host)
        with log.open("ab") as out:
            out.write(f"jobkit: starting LocalStack {settings.LOCALSTACK_VERSION} "
                      f"(Python {env_info.python_version}, Java {env_info.java_version}) on "
                      f"{self.host}:{self.port}\n".encode())
            out.flush()
            process = subprocess.Popen([str(paths.python), "-m", ENGINE_MODULE], cwd=paths.root, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self._child = process
        record = RunRecord(process.pid, self.host, self.port, instance, time.time(), str(log))
        tmp = paths.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.__dict__, indent=2) + "\n")
        tmp.replace(paths.pid_file)
        return process

    def _wait_healthy(self, pid: int, timeout: float) -> None:
        def observe() -> dict[str, Any] | None:
            if not self._alive(pid):
                raise JobkitError(f"LocalStack (pid {pid}) exited while starting: {self._log_tail()}",
                                  f"see {self.paths.engine_log}")
            return self._health()

        try:
            wait_for(observe, self._usable, timeout=timeout,
                     describe=f"{self.endpoint_url}/_localstack/health to report "
                              f"{', '.join(settings.required_services())} as available or running",
                     interval=0.1, max_interval=0.5)
        except WaitTimeout as exc:
            raise JobkitError(str(exc), f"see {self.paths.engine_log}") from exc

    def _health(self) -> dict[str, Any] | None:
        session = requests.Session()
        session.trust_env = False  # never through an HTTP proxy of the environment
        try:
            response = session.get(f"{self.endpoint_url}/_localstack/health", timeout=2)
            return response.json() if response.ok else None
        except (requests.RequestException, ValueError):
            return None
        finally:
            session.close()

    @staticmethod
    def _usable(health: dict[str, Any] | None) -> bool:
        services = (health or {}).get("services", {})
        return all(services.get(name) in USABLE_STATES for name in settings.required_services())

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.paths.engine_log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])

    # ----------------------------------------------------------------------------------------- tracking

    def _record(self) -> RunRecord | None:
        try:
            record = RunRecord(**json.loads(self.paths.pid_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, RecursionError):
            return None
        # a pid that is not a positive int (true is 1 to os.kill) names no process this project started
        return record if type(record.pid) is int and record.pid > 0 else None

    def _alive(self, pid: int) -> bool:
        self._reap()
        proc = process_table().get(pid)
        return proc is not None and proc.state != "Z"

    def _owns(self, record: RunRecord) -> bool:
        """The pid file's process is alive and is that engine instance (not a reused pid): its environment
        carries the instance's marker; where the environment cannot be read (no /proc, as on macOS, or a
        process of the user that is not dumpable), it runs LocalStack's entry point in a group of its own."""
        if not self._alive(record.pid):
            return False
        env = _environ(record.pid)
        if env:
            return env.get(settings.INSTANCE_MARKER_VAR) == record.instance
        return started_as(record.pid, ("-m", ENGINE_MODULE))

    def _family(self, record: RunRecord | None) -> set[int]:
        """Live processes of this project's engine: the recorded instance's group and descendants, and
        every process whose environment carries an instance marker and this project's FILESYSTEM_ROOT
        (LocalStack starts Java and Node in sessions of their own; they outlive a killed parent)."""
        table = process_table()
        family: set[int] = set()
        if record and self._owns(record):
            family.add(record.pid)
            family |= {p.pid for p in table.values() if p.pgid == record.pid}
            family |= descendants(record.pid, table)
        fs_root = str(self.paths.fs_root)
        own = os.getpid()
        for pid in table:
            if pid == own or pid in family:
                continue
            env = _environ(pid)
            if settings.INSTANCE_MARKER_VAR in env and env.get("FILESYSTEM_ROOT") == fs_root:
                family.add(pid)
        return {pid for pid in family if pid in table and table[pid].state != "Z"}

    def _reap(self) -> None:
        """Collects our own exited child (a zombie otherwise lingers in the process table)."""
        if self._child is not None and self._child.poll() is not None:
            self._child = None

    # ----------------------------------------------------------------------------------------- stopping

    def _stop_instance(self, record: RunRecord | None, *, timeout: float = 10.0,
                       kill_timeout: float = 10.0) -> DownResult:
        started = time.monotonic()
        tracked = self._family(record)
        if not tracked:
            return DownResult(False, [], 0.0, "LocalStack (host) is not running")
        main = record.pid if record and record.pid in tracked else None

        def remaining() -> set[int]:
            # what was tracked before the signal stays tracked (a child without the marker, reparented)
            table = process_table()
            alive = {pid for pid in tracked if pid in table and table[pid].state != "Z"}
            self._reap()
            return alive | self._family(record)

        deadline = time.monotonic() + timeout
        killed: list[int] = []
        try:
            if main is not None:
                # graceful: LocalStack's shutdown hooks stop DynamoDB Local and kinesis-local themselves
                signal_group(main, signal.SIGTERM)
                wait_for(lambda: main in remaining(), lambda up: not up, timeout=timeout, interval=0.1,
                         describe=f"LocalStack (pid {main}) to exit after SIGTERM")
            # what the engine did not stop (or all of it, without a live main process)
            _signal(remaining(), signal.SIGTERM)
            wait_for(remaining, lambda left: not left, timeout=max(1.0, deadline - time.monotonic()),
                     interval=0.1, describe="LocalStack's processes to exit after SIGTERM")
        except WaitTimeout:
            left = remaining()
            if main is not None:
                signal_group(main, signal.SIGKILL)
            _signal(left, signal.SIGKILL)
            killed = sorted(left)
            try:
                wait_for(remaining, lambda rest: not rest, timeout=kill_timeout, interval=0.1,
                         describe="LocalStack's processes to exit after SIGKILL")
            except WaitTimeout as exc:
                raise JobkitError(f"LocalStack processes survived SIGKILL: {sorted(remaining())}") from exc
        self._reap()
        seconds = time.monotonic() - started
        how = f"SIGKILL after {timeout:g} s for pid(s) {', '.join(map(str, killed))}" if killed else "SIGTERM"
        return DownResult(True, killed, seconds, f"LocalStack (host) stopped in {seconds:.1f} s ({how}); "
                                                 "no process of it remains", count=len(tracked))


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
