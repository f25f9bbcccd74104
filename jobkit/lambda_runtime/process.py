"""One execution environment: a worker process of the function's own interpreter, one invocation at a time.

The process runs in a process group (session) of its own, so a timeout or `stop()` can kill it together with
anything the function spawned. It is isolated from the engine: `-I -S` keeps every site-packages and
`PYTHON*` variable out, and the worker puts only the code dir and the runtime-provided packages ahead of
the stdlib. How it is started (a fresh interpreter, or a fork of a warm zygote) is `launch.py`'s and
`zygote.py`'s concern. This module knows nothing of Lambda's report formats (see `report.py`) or of pooling
(see `function.py`).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import secrets
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from jobkit.lambda_runtime.channel import ChannelClosedError, LogCollector, MessageChannel, marker
from jobkit.lambda_runtime.errors import LambdaRuntimeError
from jobkit.lambda_runtime.launch import Launched, LaunchSpec, WorkerPipes
from jobkit.lambda_runtime.zygote import launch

#: How long to wait for the log marker once the answer is in: it was written before the answer.
_LOG_SETTLE_S = 2.0
#: How long to keep reading a killed worker's output (its pipe closes when the whole group is gone).
_LOG_DRAIN_S = 1.0
_EXIT_WAIT_S = 2.0


class Outcome(Enum):
    OK = "ok"  # the handler returned
    ERROR = "error"  # the handler (or the runtime's contract: import, marshalling) failed
    TIMEOUT = "timeout"  # the deadline passed; the process group was killed
    EXITED = "exited"  # the process died without answering


@dataclass(frozen=True)
class InitOutcome:
    outcome: Outcome
    error: dict[str, Any] | None  # Lambda's error document when outcome is ERROR
    logs: str
    duration_ms: float
    returncode: int | None = None  # when outcome is EXITED


@dataclass(frozen=True)
class InvokeOutcome:
    outcome: Outcome
    payload: bytes  # the result (OK) or Lambda's error document (ERROR); empty otherwise
    error_type: str | None
    logs: str
    duration_ms: float
    max_rss_kb: int | None
    returncode: int | None = None


@dataclass(frozen=True)
class InvokeRequest:
    request_id: str
    payload: bytes
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: Mapping[str, Any] | None = None
    cognito_identity: Mapping[str, Any] | None = None


_LIVE: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


@atexit.register
def _kill_all_at_exit() -> None:
    """Last line of defence against orphans when the engine exits without stopping its functions."""
    for worker in list(_LIVE):
        worker.kill()


class WorkerProcess:
    """A function process. Not thread-safe for invocations (the pool hands it to one caller at a time);
    `kill()`/`shutdown()` may come from any thread and interrupt a running invocation."""

    def __init__(self, spec: LaunchSpec, name: str) -> None:
        self._spec = spec
        self._name = name
        self._token = secrets.token_hex(8)
        self._seq = 0
        self._proc: Launched | None = None
        self._channel: MessageChannel | None = None
        self._logs: LogCollector | None = None
        self._lock = threading.Lock()
        self._dead = False
        self._busy = False  # a thread is inside start() or invoke()
        self.returncode: int | None = None
        self.pending_logs = ""  # init output, handed to the first invocation's log
        self.pending_init_ms: float | None = None  # reported on the first invocation, like Lambda
        self.last_max_rss_kb: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._dead

    def has_exited(self) -> bool:
        """Whether a started worker's process is gone (e.g. a thread of the function ended it while idle)."""
        with self._lock:
            if self._proc is None:
                return False
            return self._dead or self._has_exited()

    def recent_output(self) -> str:
        return self._logs.history() if self._logs is not None else ""

    def start(self, deadline: float) -> InitOutcome:
        """Spawn the process and run the function's Init phase (import the handler) by `deadline`."""
        with self._lock:
            if self._proc is not None or self._dead:
                raise LambdaRuntimeError(f"worker {self._name} already started")
            self._busy = True
        try:
            return self._start(deadline)
        finally:
            self._leave()

    def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        """Run one invocation; kill the process group if it is not answered within `timeout_s`."""
        with self._lock:
            if self._channel is None or self._logs is None or self._dead:
                raise LambdaRuntimeError(f"worker {self._name} is not running")
            self._busy = True
        try:
            return self._invoke(request, timeout_s)
        finally:
            self._leave()

    def _leave(self) -> None:
        """End of a start/invoke: if the worker was killed meanwhile, its pipes can be closed now."""
        with self._lock:
            self._busy = False
            close = self._dead
        if close:
            self._close()

    def _start(self, deadline: float) -> InitOutcome:
        began = time.monotonic()
        self._spawn()
        assert self._channel is not None and self._logs is not None
        try:
            self._channel.send(
                {
                    "type": "init",
                    "handler": self._spec.handler,
                    "code_dir": str(self._spec.code_dir),
                    "paths": [str(path) for path in self._spec.paths],
                    "token": self._token,
                }
            )
            message = self._channel.receive(deadline)
        except ChannelClosedError:
            returncode = self._collect_exit()
            logs = self._logs.take_rest(time.monotonic() + _LOG_DRAIN_S)
            return InitOutcome(Outcome.EXITED, None, logs, _ms_since(began), returncode)
        if message is None:
            self.kill()
            logs = self._logs.take_rest(time.monotonic() + _LOG_DRAIN_S)
            return InitOutcome(Outcome.TIMEOUT, None, logs, _ms_since(began))
        duration = _ms_since(began)
        logs, _ = self._logs.take_until(marker(self._token, 0), time.monotonic() + _LOG_SETTLE_S)
        if not message.get("ok"):
            self.kill()
            return InitOutcome(Outcome.ERROR, message.get("error"), logs, duration)
        self.pending_logs = logs
        self.pending_init_ms = duration
        return InitOutcome(Outcome.OK, None, logs, duration)

    def _invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        assert self._channel is not None and self._logs is not None
        self._seq += 1
        seq = self._seq
        began = time.monotonic()
        deadline = began + timeout_s
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        try:
            self._channel.send(
                {
                    "type": "invoke",
                    "seq": seq,
                    "request_id": request.request_id,
                    "payload": base64.b64encode(request.payload).decode("ascii"),
                    "deadline_ms": deadline_ms,
                    "invoked_function_arn": request.invoked_function_arn,
                    "trace_id": request.trace_id,
                    "client_context": dict(request.client_context) if request.client_context else None,
                    "cognito_identity": dict(request.cognito_identity) if request.cognito_identity else None,
                }
            )
            message = self._channel.receive(deadline)
        except ChannelClosedError:
            returncode = self._collect_exit()
            logs = self._logs.take_rest(time.monotonic() + _LOG_DRAIN_S)
            return InvokeOutcome(Outcome.EXITED, b"", None, logs, _ms_since(began), None, returncode)
        # the worker's own clock says when the handler returned: an answer read late (this thread was not
        # scheduled) is in time if the handler finished in time, and one that finished late is a timeout
        if message is None or int(message.get("finished_ms", 0)) > deadline_ms:
            self.kill()
            logs = self._logs.take_rest(time.monotonic() + _LOG_DRAIN_S)
            return InvokeOutcome(Outcome.TIMEOUT, b"", None, logs, _ms_since(began), None)
        duration = _ms_since(began)
        logs, _ = self._logs.take_until(marker(self._token, seq), time.monotonic() + _LOG_SETTLE_S)
        self.last_max_rss_kb = message.get("max_rss_kb")
        return InvokeOutcome(
            Outcome.OK if message.get("ok") else Outcome.ERROR,
            base64.b64decode(message.get("payload") or ""),
            message.get("error_type"),
            logs,
            duration,
            self.last_max_rss_kb,
        )

    def shutdown(self, deadline: float) -> None:
        """An idle worker is asked to leave (EOF on its command pipe) and killed with its group at `deadline`
        at the latest; a busy one (mid-invocation) is killed at once, interrupting the invocation."""
        with self._lock:
            idle = self._channel is not None and not self._dead and not self._busy
            if idle:
                assert self._channel is not None
                with contextlib.suppress(OSError):
                    self._channel.close_commands()
        if idle:
            while time.monotonic() < deadline and not self._has_exited():
                time.sleep(0.01)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the process. Idempotent, callable from any thread."""
        with self._lock:
            if self._proc is None or self._dead:
                return
            self._dead = True
            self._proc.kill_group()
            self.returncode = self._proc.wait(_EXIT_WAIT_S)
            # A thread inside start/invoke may be reading these pipes: it closes them itself on its way out
            # (closing them under it could hand their numbers to a new file it would then read).
            close = not self._busy
        _LIVE.discard(self)
        if close:
            self._close()

    def _spawn(self) -> None:
        command_r, command_w = os.pipe()
        result_r, result_w = os.pipe()
        log_r, log_w = os.pipe()
        try:
            self._proc = launch(self._spec, WorkerPipes(command_r, result_w, log_w))
        except LambdaRuntimeError:
            for fd in (command_w, result_r, log_r):
                os.close(fd)
            raise
        finally:
            for fd in (command_r, result_w, log_w):
                os.close(fd)
        self._channel = MessageChannel(command_w, result_r)
        self._logs = LogCollector(log_r, self._name)
        _LIVE.add(self)

    def _has_exited(self) -> bool:
        """Whether the process has exited, without reaping it (reaping would free its pid for reuse)."""
        assert self._proc is not None
        return self._proc.has_exited()

    def _collect_exit(self) -> int | None:
        """After the worker closed its pipe: wait briefly for it to exit, kill stragglers, return its code."""
        assert self._proc is not None
        deadline = time.monotonic() + _EXIT_WAIT_S
        while time.monotonic() < deadline and not self._has_exited():
            time.sleep(0.01)
        self.kill()
        return self.returncode

    def _close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(OSError):
                self._channel.close()


def _ms_since(start: float) -> float:
    return (time.monotonic() - start) * 1000.0
