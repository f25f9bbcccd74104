"""Warm zygotes: workers forked from a process that has the runtime's SDK imported already.

A fresh worker spends most of its start and about half of its memory on importing boto3 and botocore (here
~0.5 s and ~25 MB of a ~46 MB environment). A zygote, one per (interpreter, code dir, runtime packages), does
that import once, resolving it exactly as a worker of that code dir would (code dir first); each worker is
then a fork whose pages of those modules stay shared. The function's own import (its Init phase), its
environment variables and its SDK session are still per worker, so a forked environment behaves as a fresh
one: the reference behaviour stays `popen_launch`, which is used whenever a zygote cannot start (and for every
worker when `JOBKIT_LAMBDA_ZYGOTE=0`).

The zygote is a child of this process in a session of its own; its workers are its children, each in a
session of its own. It reaps them and reports their exit; kills go through it, so no pid is signalled after it
was reaped. When this process closes the socket (or dies), the zygote kills every worker and exits; a worker
whose zygote is gone kills itself (worker.py's parent watch).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from jobkit.lambda_runtime.errors import LambdaRuntimeError
from jobkit.lambda_runtime.launch import (
    WORKER_FLAGS,
    WORKER_SCRIPT,
    Launched,
    LaunchSpec,
    WorkerPipes,
    popen_launch,
)
from jobkit.processes import state

LOG = logging.getLogger(__name__)

ZYGOTE_ENV = "JOBKIT_LAMBDA_ZYGOTE"
_START_TIMEOUT_S = 60.0  # a first import of boto3 on a loaded 2-core machine
_SPAWN_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 2.0
_DATAGRAM_MAX = 1 << 20


class ZygoteError(LambdaRuntimeError):
    """The zygote could not start, or stopped answering."""


class ZygoteLaunched:
    """A worker forked by a zygote (not this process's child: the zygote reaps it and reports its exit)."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self._pid = pid

    @property
    def pid(self) -> int:
        return self._pid

    def kill_group(self) -> None:
        self._zygote.kill(self._pid)

    def has_exited(self) -> bool:
        # The zygote reports an exit only after reaping it; until that report arrives the worker is already a
        # zombie, and an idle environment that died must not be handed to an invocation meanwhile.
        return self._zygote.exited(self._pid) or state(self._pid) in (None, "Z")

    def wait(self, timeout: float) -> int | None:
        return self._zygote.wait(self._pid, timeout)


class Zygote:
    """One zygote process and the thread that reads its answers."""

    def __init__(self, interpreter: Path, code_dir: Path, paths: tuple[Path, ...]) -> None:
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._spawned: dict[int, int | str] = {}  # request id -> pid, or the zygote's error
        self._live: set[int] = set()
        self._exits: dict[int, int | None] = {}  # pid -> return code (None: the zygote vanished)
        self._next_id = 0
        self._closed = False
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [str(interpreter), *WORKER_FLAGS, str(WORKER_SCRIPT), "--zygote", str(theirs.fileno()),
                 str(code_dir), *(str(path) for path in paths)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "en_US.UTF-8"},
                start_new_session=True,
            )
        except OSError as exc:
            self._sock.close()
            raise ZygoteError(f"cannot start {interpreter}: {exc}") from exc
        finally:
            theirs.close()
        self._sock.settimeout(_START_TIMEOUT_S)
        try:
            ready = self._receive()
        except (OSError, ValueError) as exc:
            self.stop()
            raise ZygoteError(f"zygote did not start: {exc}") from exc
        if ready is None or ready.get("op") != "ready":
            self.stop()
            raise ZygoteError(f"zygote did not start: {(ready or {}).get('error', 'it exited')}")
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="jobkit-zygote", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        with self._cond:
            return not self._closed

    @property
    def pid(self) -> int:
        return self._process.pid

    def spawn(self, spec: LaunchSpec, pipes: WorkerPipes) -> ZygoteLaunched:
        """Fork a worker with `spec.env`; its pipe ends are passed to the zygote (this process still closes
        its own copies)."""
        with self._cond:
            if self._closed:
                raise ZygoteError("zygote is gone")
            self._next_id += 1
            request_id = self._next_id
        message = json.dumps({"op": "spawn", "id": request_id, "env": dict(spec.env)}).encode("utf-8")
        try:
            with self._send_lock:
                socket.send_fds(self._sock, [message], [pipes.command_r, pipes.result_w, pipes.log_w])
        except OSError as exc:
            raise ZygoteError(f"zygote is gone: {exc}") from exc
        deadline = time.monotonic() + _SPAWN_TIMEOUT_S
        with self._cond:
            while request_id not in self._spawned and not self._closed:
                if not self._cond.wait(deadline - time.monotonic()):
                    break
            answer = self._spawned.pop(request_id, None)
        if not isinstance(answer, int):
            raise ZygoteError(f"zygote did not fork a worker: {answer or 'no answer'}")
        return ZygoteLaunched(self, answer)

    def kill(self, pid: int) -> None:
        with self._cond:
            if pid not in self._live:
                return
        with contextlib.suppress(OSError), self._send_lock:
            self._sock.sendall(json.dumps({"op": "kill", "pid": pid}).encode("utf-8"))

    def exited(self, pid: int) -> bool:
        with self._cond:
            return pid not in self._live

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while pid in self._live:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
            return self._exits.get(pid) if pid not in self._live else None

    def stop(self) -> None:
        """Close the socket (the zygote kills its workers and exits), then make sure it is gone."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self._process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_STOP_TIMEOUT_S)
        self._sock.close()
        self._vanished()

    def _receive(self) -> dict[str, Any] | None:
        data = self._sock.recv(_DATAGRAM_MAX)
        if not data:
            return None
        message: dict[str, Any] = json.loads(data)
        return message

    def _read(self) -> None:
        while True:
            try:
                message = self._receive()
            except (OSError, ValueError):
                message = None
            if message is None:
                self._vanished()
                return
            with self._cond:
                op = message.get("op")
                if op == "spawned":
                    self._spawned[message["id"]] = message["pid"]
                    self._live.add(message["pid"])
                elif op == "error":
                    self._spawned[message["id"]] = str(message.get("error"))
                elif op == "exit":
                    self._live.discard(message["pid"])
                    self._exits[message["pid"]] = message["returncode"]
                self._cond.notify_all()

    def _vanished(self) -> None:
        """The zygote is gone: its workers kill themselves (parent watch), and count as exited now."""
        with self._cond:
            self._closed = True
            for pid in self._live:
                self._exits.setdefault(pid, None)
            self._live.clear()
            self._cond.notify_all()


class ZygotePool:
    """The zygotes of this process, one per (interpreter, code dir, runtime packages), started on first use.
    A key whose zygote cannot start gets fresh interpreters from then on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zygotes: dict[tuple[Path, Path, tuple[Path, ...]], Zygote | None] = {}

    def launch(self, spec: LaunchSpec, pipes: WorkerPipes) -> Launched:
        zygote = self._zygote(spec)
        if zygote is not None:
            try:
                return zygote.spawn(spec, pipes)
            except ZygoteError as exc:
                LOG.warning("starting %s without its zygote: %s", spec.handler, exc)
        return popen_launch(spec, pipes)

    def _zygote(self, spec: LaunchSpec) -> Zygote | None:
        key = (spec.interpreter, spec.code_dir, spec.paths)
        with self._lock:
            zygote = self._zygotes.get(key)
            if key in self._zygotes and (zygote is None or zygote.alive):
                return zygote
            if zygote is not None:
                zygote.stop()  # reaps the one that died
            try:
                zygote = Zygote(*key)
            except ZygoteError as exc:
                LOG.warning("fresh interpreters for %s: %s", spec.code_dir, exc)
                zygote = None
            self._zygotes[key] = zygote
            return zygote

    def release(self, code_dir: Path) -> None:
        """Stops the zygotes of ``code_dir`` (and with them any worker they still have): for a code folder no
        function uses any more, such as the old code of a function whose code was replaced."""
        with self._lock:
            keys = [key for key in self._zygotes if key[1] == code_dir]
            zygotes = [zygote for key in keys if (zygote := self._zygotes.pop(key)) is not None]
        for zygote in zygotes:
            zygote.stop()

    def zygote_pids(self) -> set[int]:
        with self._lock:
            return {zygote.pid for zygote in self._zygotes.values() if zygote is not None and zygote.alive}

    def stop(self) -> None:
        with self._lock:
            zygotes = [zygote for zygote in self._zygotes.values() if zygote is not None]
            self._zygotes.clear()
        for zygote in zygotes:
            zygote.stop()


POOL = ZygotePool()
atexit.register(POOL.stop)


def release(code_dir: Path) -> None:
    """Stops the zygotes of a code folder no function uses any more (``ZygotePool.release``)."""
    POOL.release(code_dir)


def launch(spec: LaunchSpec, pipes: WorkerPipes) -> Launched:
    """A worker for `spec`: forked from its zygote, or a fresh interpreter when zygotes are turned off."""
    if os.environ.get(ZYGOTE_ENV, "1") == "0":
        return popen_launch(spec, pipes)
    return POOL.launch(spec, pipes)
