"""`LocalFunction`: a function's pool of execution environments, and Lambda's view of each invocation.

Environments start lazily, stay warm between invocations (module state survives, as on Lambda), and are
replaced after a timeout, a crash or a failed Init. Each handles one invocation at a time; the pool allows up
to `max_concurrency` of them (reserved concurrency, for an engine that wants it) and callers beyond that wait.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobkit.lambda_runtime import report
from jobkit.lambda_runtime.environment import FunctionConfig, build_process_env
from jobkit.lambda_runtime.errors import ConcurrencyLimitError, FunctionStoppedError
from jobkit.lambda_runtime.interpreter import find_interpreter
from jobkit.lambda_runtime.launch import WORKER_SCRIPT, LaunchSpec
from jobkit.lambda_runtime.packages import ensure_runtime_packages
from jobkit.lambda_runtime.process import InitOutcome, InvokeOutcome, InvokeRequest, Outcome, WorkerProcess


@dataclass(frozen=True)
class InvocationResult:
    """What Lambda answers for one invocation, plus what it logs about it."""

    request_id: str
    payload: bytes  # the function's result, or Lambda's error document when is_error
    is_error: bool
    error_type: str | None
    logs: str  # START, the function's output, END, REPORT (and init output on a cold start)
    duration_ms: float
    billed_duration_ms: int
    init_duration_ms: float | None  # set on an environment's first invocation
    max_memory_used_mb: int
    timed_out: bool = False

    def json(self) -> Any:
        """The payload decoded as JSON (results and error documents both are)."""
        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class InitResult:
    """The outcome of starting an environment ahead of an invocation (`LocalFunction.prewarm`)."""

    ok: bool
    error_payload: bytes | None  # Lambda's error document when not ok
    error_type: str | None
    logs: str
    init_duration_ms: float


class _Environment:
    """A worker plus the private TMPDIR it was given; both go away together."""

    def __init__(self, worker: WorkerProcess, tmp_dir: Path) -> None:
        self.worker = worker
        self.tmp_dir = tmp_dir

    def destroy(self, deadline: float | None = None) -> None:
        if deadline is None:
            self.worker.kill()
        else:
            self.worker.shutdown(deadline)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


class LocalFunction:
    """Runs one Lambda function (version) as local processes of its runtime's Python version."""

    def __init__(
        self,
        config: FunctionConfig,
        *,
        max_concurrency: int = 1,
        interpreter: Path | None = None,
        packages_dir: Path | None = None,
        provide_sdk: bool = True,
        tmp_root: Path | None = None,
    ) -> None:
        """`interpreter` defaults to `find_interpreter(config.runtime)`; `packages_dir` (the runtime-provided
        boto3/botocore) defaults to `ensure_runtime_packages(config.runtime)`, or none if not `provide_sdk`.
        Each environment's /tmp is a new folder under `tmp_root` (the system's temporary folder if None)."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._config = config
        self._max = max_concurrency
        self._interpreter = interpreter
        self._packages_dir = packages_dir
        self._provide_sdk = provide_sdk
        self._tmp_root = tmp_root
        self._resolved: tuple[Path, tuple[Path, ...]] | None = None
        self._resolve_lock = threading.Lock()
        self._cond = threading.Condition()
        self._idle: list[_Environment] = []
        self._all: set[_Environment] = set()
        self._stopped = False
        self._creating = 0
        self._carried_logs = ""  # logs of a failed prewarm, shown before the next invocation's
        self._counter = 0
        self._last_output = ""

    @property
    def config(self) -> FunctionConfig:
        return self._config

    @property
    def max_concurrency(self) -> int:
        return self._max

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        """Change the pool size; busy environments finish, surplus ones retire when released."""
        if value < 1:
            raise ValueError("max_concurrency must be at least 1")
        with self._cond:
            self._max = value
            surplus = self._idle[: max(len(self._all) - value, 0)]
            for environment in surplus:
                self._idle.remove(environment)
                self._all.discard(environment)
            self._cond.notify_all()
        for environment in surplus:
            environment.destroy()

    @property
    def environment_count(self) -> int:
        with self._cond:
            return len(self._all)

    def invoke(
        self,
        payload: bytes,
        request_id: str,
        *,
        invoked_function_arn: str | None = None,
        trace_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        cognito_identity: Mapping[str, Any] | None = None,
        acquire_timeout: float | None = None,
    ) -> InvocationResult:
        """Invoke the function once; function errors and timeouts come back as results, never raised."""
        environment = self._acquire(acquire_timeout)
        healthy = False
        with self._cond:
            carried, self._carried_logs = self._carried_logs, ""
        try:
            worker = environment.worker
            if not worker.started:
                # On Lambda a failed or slow Init is retried within the invocation, with the function's timeout.
                init = worker.start(time.monotonic() + self._config.init_timeout + self._config.real_timeout)
                if init.outcome is not Outcome.OK:
                    return self._init_failure_result(request_id, init, carried)
            init_ms = worker.pending_init_ms
            init_prefix = carried + worker.pending_logs
            worker.pending_logs, worker.pending_init_ms = "", None
            request = InvokeRequest(
                request_id=request_id,
                payload=payload,
                invoked_function_arn=invoked_function_arn or self._config.unqualified_arn,
                trace_id=trace_id,
                client_context=client_context,
                cognito_identity=cognito_identity,
            )
            outcome = worker.invoke(request, self._config.real_timeout)
            self._last_output = worker.recent_output()
            healthy = outcome.outcome in (Outcome.OK, Outcome.ERROR)
            return self._invocation_result(request_id, init_prefix, init_ms, outcome, worker)
        finally:
            self._release(environment, healthy)

    def prewarm(self, acquire_timeout: float | None = None) -> InitResult:
        """Start an environment now (Init phase included) so the next invocation is warm. An engine that
        reports readiness (LocalStack's executor) uses this; on failure the environment is discarded."""
        environment = self._acquire(acquire_timeout)
        healthy = False
        try:
            worker = environment.worker
            if worker.started:
                healthy = True
                return InitResult(True, None, None, "", 0.0)
            init = worker.start(time.monotonic() + self._config.init_timeout)
            healthy = init.outcome is Outcome.OK
            if healthy:
                return InitResult(True, None, None, init.logs, init.duration_ms)
            payload, error_type = self._init_error(init)
            # Lambda retries a failed Init at the next invocation; that invocation's log starts with this one.
            status = "timeout" if init.outcome is Outcome.TIMEOUT else "error"
            with self._cond:
                self._carried_logs += init.logs + report.init_report_line(
                    init.duration_ms, "init", status, error_type if status == "error" else None
                )
            return InitResult(False, payload, error_type, init.logs, init.duration_ms)
        finally:
            self._release(environment, healthy)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every environment: idle ones are asked to leave and killed (with their process groups) at the
        deadline at the latest; busy ones are killed at once, their invocations ending as `Runtime.ExitError`.
        Final: later invocations raise `FunctionStoppedError`."""
        with self._cond:
            self._stopped = True
            environments = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        threads = [
            threading.Thread(target=environment.destroy, args=(deadline,), daemon=True) for environment in environments
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0) + 5.0)

    def retire(self) -> None:
        """Stop taking invocations and let the running ones finish: idle environments stop now, busy ones as
        their invocation ends. For an engine that replaces a function whose code or configuration changed: its
        next invocation meets a new `LocalFunction`, the ones under way end on the old code. Final, like `stop`
        (later invocations raise `FunctionStoppedError`)."""
        with self._cond:
            self._stopped = True
            idle, self._idle = self._idle, []
            for environment in idle:
                self._all.discard(environment)
            self._cond.notify_all()
        for environment in idle:
            environment.destroy(time.monotonic() + 5.0)

    def wait_retired(self, timeout: float) -> bool:
        """Until no environment of this function is left (after `retire` or `stop`); False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._all or self._creating:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))  # releases notify one waiter: look again shortly
            return True

    def recent_output(self) -> str:
        """The most recent output of the most recently used environment (diagnostics)."""
        return self._last_output

    # -- pool ------------------------------------------------------------------------------------------

    def _acquire(self, timeout: float | None) -> _Environment:
        deadline = None if timeout is None else time.monotonic() + timeout
        gone: list[_Environment] = []
        try:
            return self._acquire_slot(deadline, gone)
        finally:
            for environment in gone:
                environment.destroy()

    def _acquire_slot(self, deadline: float | None, gone: list[_Environment]) -> _Environment:
        with self._cond:
            while True:
                if self._stopped:
                    raise FunctionStoppedError(f"function {self._config.function_name} is stopped")
                while self._idle:
                    environment = self._idle.pop()  # most recently used first: the warmest
                    if not environment.worker.has_exited():
                        return environment
                    self._all.discard(environment)  # died while idle: replace it rather than fail a caller
                    gone.append(environment)
                if len(self._all) + self._creating < self._max:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ConcurrencyLimitError(
                        f"all {self._max} environments of {self._config.function_name} are busy"
                    )
                self._cond.wait(remaining)
            self._counter += 1
            number = self._counter
            self._creating += 1  # hold the slot while the environment is created outside the lock
        try:
            environment = self._new_environment(number)
        except BaseException:
            with self._cond:
                self._creating -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._creating -= 1
            stopped = self._stopped
            if not stopped:
                self._all.add(environment)
        if stopped:
            environment.destroy()
            raise FunctionStoppedError(f"function {self._config.function_name} is stopped")
        return environment

    def _release(self, environment: _Environment, healthy: bool) -> None:
        with self._cond:
            keep = healthy and not self._stopped and environment in self._all and len(self._all) <= self._max
            if keep:
                self._idle.append(environment)
            else:
                self._all.discard(environment)
            self._cond.notify()
        if not keep:
            environment.destroy()

    def _new_environment(self, number: int) -> _Environment:
        interpreter, paths = self._resolve()
        tmp_dir = Path(tempfile.mkdtemp(prefix=f"jobkit-lambda-{self._config.function_name[:40]}-",
                                        dir=self._tmp_root))
        spec = LaunchSpec(
            interpreter=interpreter,
            code_dir=self._config.code_dir,
            handler=self._config.handler,
            paths=paths,
            env=build_process_env(self._config, runtime_dir=WORKER_SCRIPT.parent, tmp_dir=tmp_dir),
        )
        return _Environment(WorkerProcess(spec, f"{self._config.function_name}-{number}"), tmp_dir)

    def _resolve(self) -> tuple[Path, tuple[Path, ...]]:
        """Find the interpreter and the runtime packages once (installing them may take a while)."""
        with self._resolve_lock:
            if self._resolved is None:
                interpreter = self._interpreter or find_interpreter(self._config.runtime)
                if self._packages_dir is not None:
                    paths: tuple[Path, ...] = (self._packages_dir,)
                elif self._provide_sdk:
                    paths = (ensure_runtime_packages(self._config.runtime),)
                else:
                    paths = ()
                self._resolved = (interpreter, paths)
            return self._resolved

    # -- Lambda's view -----------------------------------------------------------------------------------

    def _init_error(self, init: InitOutcome) -> tuple[bytes, str]:
        """Error document and type of a failed Init phase (no request id: init errors carry none)."""
        if init.outcome is Outcome.ERROR and init.error is not None:
            return json.dumps(init.error).encode(), str(init.error.get("errorType") or "")
        if init.outcome is Outcome.TIMEOUT:
            message = report.timeout_message(self._config.timeout)
            return (
                json.dumps({"errorMessage": message, "errorType": report.TIMEOUT_ERROR_TYPE}).encode(),
                report.TIMEOUT_ERROR_TYPE,
            )
        reason = report.exit_reason(init.returncode)
        document = {"errorMessage": reason, "errorType": report.EXIT_ERROR_TYPE}
        return json.dumps(document).encode(), report.EXIT_ERROR_TYPE

    def _init_failure_result(self, request_id: str, init: InitOutcome, carried_logs: str) -> InvocationResult:
        if init.outcome is Outcome.TIMEOUT:
            payload, error_type = report.timeout_error(request_id, self._config.timeout), report.TIMEOUT_ERROR_TYPE
            status = "timeout"
        elif init.outcome is Outcome.EXITED:
            reason = report.exit_reason(init.returncode)
            payload, error_type = report.exit_error(request_id, reason), report.EXIT_ERROR_TYPE
            status = "error"
        else:
            payload, error_type = self._init_error(init)
            status = "error"
        reported_type = error_type if status == "error" else None  # a timeout is reported as a status only
        logs = (
            carried_logs
            + init.logs
            + report.init_report_line(init.duration_ms, "invoke", status, reported_type)
            + report.start_line(request_id, self._config.version)
            + report.end_line(request_id)
            + report.report_line(
                request_id,
                init.duration_ms,
                self._config.memory_size,
                0,
                status=status,
                error_type=reported_type,
            )
        )
        return InvocationResult(
            request_id=request_id,
            payload=payload,
            is_error=True,
            error_type=error_type,
            logs=logs,
            duration_ms=init.duration_ms,
            billed_duration_ms=report.billed_duration_ms(init.duration_ms, None),
            init_duration_ms=None,
            max_memory_used_mb=0,
            timed_out=init.outcome is Outcome.TIMEOUT,
        )

    def _invocation_result(
        self,
        request_id: str,
        init_prefix: str,
        init_ms: float | None,
        outcome: InvokeOutcome,
        worker: WorkerProcess,
    ) -> InvocationResult:
        config = self._config
        memory_mb = _mb(outcome.max_rss_kb or worker.last_max_rss_kb)
        body = init_prefix + report.start_line(request_id, config.version) + outcome.logs
        if body and not body.endswith("\n"):
            body += "\n"
        status: str | None = None
        error_type: str | None = outcome.error_type
        duration = outcome.duration_ms
        payload: bytes = outcome.payload
        timed_out = outcome.outcome is Outcome.TIMEOUT
        if timed_out:
            duration = min(duration, config.timeout * 1000.0)
            payload, status = report.timeout_error(request_id, config.timeout), "timeout"
            error_type = report.TIMEOUT_ERROR_TYPE
            body += report.timeout_log_line(request_id, config.timeout)
        elif outcome.outcome is Outcome.EXITED:
            reason = report.exit_reason(outcome.returncode)
            payload, error_type, status = report.exit_error(request_id, reason), report.EXIT_ERROR_TYPE, "error"
            body += report.exit_log_lines(request_id, reason)
        body += report.end_line(request_id) + report.report_line(
            request_id,
            duration,
            config.memory_size,
            memory_mb,
            init_duration_ms=init_ms,
            status=status,
            error_type=error_type if status == "error" else None,  # a timeout's REPORT says only "timeout"
        )
        return InvocationResult(
            request_id=request_id,
            payload=payload,
            is_error=outcome.outcome is not Outcome.OK,
            error_type=error_type if outcome.outcome is not Outcome.OK else None,
            logs=body,
            duration_ms=duration,
            billed_duration_ms=report.billed_duration_ms(duration, init_ms),
            init_duration_ms=init_ms,
            max_memory_used_mb=memory_mb,
            timed_out=timed_out,
        )


def _mb(kilobytes: int | None) -> int:
    return -(-kilobytes // 1024) if kilobytes else 0
