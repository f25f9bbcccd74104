"""Starting a worker process, and what its owner may then do with it (kill its group, see it exit).

Two ways behind one interface (`Launched`): a fresh interpreter per environment (`popen_launch`, the
reference behaviour), or a fork of a warm zygote (`jobkit.lambda_runtime.zygote`) that has the runtime's own
packages imported already. `WorkerProcess` does not know which it got.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jobkit.lambda_runtime.errors import LambdaRuntimeError

WORKER_SCRIPT = Path(__file__).with_name("worker.py")

#: the interpreter flags of every worker: isolated (no PYTHON* variables, no user site, script dir not on
#: sys.path), no `site` (none of the interpreter's site-packages), unbuffered (output reaches the log before
#: the answer), UTF-8 mode
WORKER_FLAGS: tuple[str, ...] = ("-I", "-S", "-u", "-X", "utf8")


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start a worker."""

    interpreter: Path
    code_dir: Path
    handler: str
    paths: tuple[Path, ...]
    env: Mapping[str, str]


@dataclass(frozen=True)
class WorkerPipes:
    """The worker's ends of its three pipes (commands in, results out, logs out); the caller closes them."""

    command_r: int
    result_w: int
    log_w: int


class Launched(Protocol):
    """A started worker, leader of a process group of its own."""

    @property
    def pid(self) -> int: ...

    def kill_group(self) -> None:
        """SIGKILL the worker's whole group, unless it has already been reaped (its pid may be reused)."""

    def has_exited(self) -> bool:
        """Whether the worker is gone, without freeing its pid."""

    def wait(self, timeout: float) -> int | None:
        """Its return code (negative: killed by that signal) once exited within `timeout`, else None."""


class PopenLaunched:
    """A worker that is this process's own child."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    def kill_group(self) -> None:
        if self._process.returncode is not None:
            return
        # Not reaped yet (nothing but wait() reaps it), so its pid, which is its group's id, is not reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def has_exited(self) -> bool:
        if self._process.returncode is not None:
            return True
        if not hasattr(os, "waitid"):  # pragma: no cover - platforms without waitid: accept reaping
            return self._process.poll() is not None
        try:
            info = os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def wait(self, timeout: float) -> int | None:
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def popen_launch(spec: LaunchSpec, pipes: WorkerPipes) -> Launched:
    """A fresh interpreter running worker.py, in a session of its own, with exactly `spec.env`."""
    try:
        process = subprocess.Popen(
            [str(spec.interpreter), *WORKER_FLAGS, str(WORKER_SCRIPT), str(pipes.command_r), str(pipes.result_w)],
            stdin=subprocess.DEVNULL,
            stdout=pipes.log_w,
            stderr=subprocess.STDOUT,
            pass_fds=(pipes.command_r, pipes.result_w),
            cwd=str(spec.code_dir),
            env=dict(spec.env),
            start_new_session=True,
        )
    except OSError as exc:
        raise LambdaRuntimeError(f"cannot start {spec.interpreter}: {exc}") from exc
    return PopenLaunched(process)
