"""Workers forked from a warm zygote behave as fresh interpreters: their own environment and code, exit codes
reported, nothing left behind; the zygote's SDK is shared, never imposed on a code dir that ships its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from jobkit.lambda_runtime import FunctionConfig, LocalFunction, zygote
from jobkit.lambda_runtime.zygote import POOL, ZYGOTE_ENV, ZygoteLaunched
from jobkit.processes import state
from tests.lambda_runtime.helpers import new_request_id, pid_gone, wait_until

PROBE = """
import os
import sys

PRELOADED_AT_INIT = "boto3" in sys.modules

def handler(event, context):
    import boto3
    return {"ppid": os.getppid(), "pid": os.getpid(), "pgid": os.getpgid(0), "boto3": boto3.__version__,
            "mine": os.environ.get("MINE"), "tz": os.environ.get("TZ"), "tmp": os.environ.get("TMPDIR"),
            "preloaded": PRELOADED_AT_INIT, "path0": sys.path[0]}
"""


def _code_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    code_dir = tmp_path / f"code-{uuid.uuid4().hex[:6]}"
    for relative, source in files.items():
        target = code_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))
    return code_dir


def _function(code_dir: Path, runtime_packages: Path, **env: str) -> LocalFunction:
    config = FunctionConfig(function_name=f"z-{uuid.uuid4().hex[:8]}", code_dir=code_dir, handler="app.handler",
                            environment=env)
    return LocalFunction(config, packages_dir=runtime_packages)


def _invoke(function: LocalFunction) -> dict[str, object]:
    result = function.invoke(b"{}", request_id=new_request_id())
    assert not result.is_error, result.payload
    answer: dict[str, object] = json.loads(result.payload)
    return answer


@pytest.fixture
def zygotes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ZYGOTE_ENV, raising=False)


@pytest.mark.usefixtures("zygotes_on")
def test_a_worker_is_forked_from_its_code_dirs_zygote_with_its_own_session_and_environment(
    tmp_path: Path, runtime_packages: Path
) -> None:
    code_dir = _code_dir(tmp_path, {"app.py": PROBE})
    first, second = _function(code_dir, runtime_packages, MINE="one"), _function(code_dir, runtime_packages, MINE="two")
    try:
        a, b = _invoke(first), _invoke(second)
        assert a["ppid"] == b["ppid"] and a["ppid"] in POOL.zygote_pids()  # one zygote for the code dir
        assert a["pgid"] == a["pid"] and b["pgid"] == b["pid"]  # each leads a session of its own
        assert (a["mine"], b["mine"]) == ("one", "two")  # each has its own function's variables
        assert a["tz"] == ":UTC" and a["tmp"] != b["tmp"]
        assert a["preloaded"] is True and a["path0"] == str(code_dir)
    finally:
        first.stop(timeout=2.0)
        second.stop(timeout=2.0)


@pytest.mark.usefixtures("zygotes_on")
def test_a_code_dir_that_ships_its_own_sdk_gets_it_not_the_runtimes(tmp_path: Path, runtime_packages: Path) -> None:
    code_dir = _code_dir(tmp_path, {"app.py": PROBE, "boto3/__init__.py": '__version__ = "bundled"\n'})
    function = _function(code_dir, runtime_packages)
    try:
        assert _invoke(function)["boto3"] == "bundled"
    finally:
        function.stop(timeout=2.0)


@pytest.mark.usefixtures("zygotes_on")
def test_exit_codes_and_signals_come_back_through_the_zygote(tmp_path: Path, runtime_packages: Path) -> None:
    code_dir = _code_dir(tmp_path, {"app.py": """
        import os, sys
        def handler(event, context):
            if event["how"] == "exit":
                sys.exit(7)
            os.kill(os.getpid(), 9)
    """})
    function = _function(code_dir, runtime_packages)
    try:
        exited = function.invoke(b'{"how": "exit"}', request_id=new_request_id())
        killed = function.invoke(b'{"how": "kill"}', request_id=new_request_id())
        assert b"Runtime exited with error: exit status 7" in exited.payload
        assert b"Runtime exited with error: signal: killed" in killed.payload
    finally:
        function.stop(timeout=2.0)


@pytest.mark.usefixtures("zygotes_on")
def test_a_dead_zygote_takes_its_workers_and_the_next_invocation_gets_a_new_one(
    tmp_path: Path, runtime_packages: Path
) -> None:
    function = _function(_code_dir(tmp_path, {"app.py": PROBE}), runtime_packages)
    try:
        before = _invoke(function)
        os.killpg(int(str(before["ppid"])), signal.SIGKILL)
        assert wait_until(lambda: pid_gone(int(str(before["pid"]))), timeout=10)  # the worker saw its parent go
        after = _invoke(function)
        assert after["ppid"] != before["ppid"] and after["ppid"] in POOL.zygote_pids()
        assert not Path(f"/proc/{before['ppid']}").exists()  # the dead one was reaped, not left a zombie
    finally:
        function.stop(timeout=2.0)


@pytest.mark.usefixtures("zygotes_on")
def test_stopping_the_pool_leaves_no_zygote_and_no_worker(tmp_path: Path, runtime_packages: Path) -> None:
    function = _function(_code_dir(tmp_path, {"app.py": PROBE}), runtime_packages)
    try:
        answer = _invoke(function)
        POOL.stop()
        assert wait_until(lambda: pid_gone(int(str(answer["ppid"]))) and pid_gone(int(str(answer["pid"]))))
    finally:
        function.stop(timeout=2.0)


@pytest.mark.usefixtures("zygotes_on")
def test_releasing_a_code_dir_stops_its_zygote_and_no_other(tmp_path: Path, runtime_packages: Path) -> None:
    """An engine releases the code folder a replaced function no longer runs: its zygote goes, others stay."""
    old = _function(_code_dir(tmp_path, {"app.py": PROBE}), runtime_packages)
    kept = _function(_code_dir(tmp_path, {"app.py": PROBE}), runtime_packages)
    try:
        released, staying = int(str(_invoke(old)["ppid"])), int(str(_invoke(kept)["ppid"]))
        old.stop(timeout=2.0)
        zygote.release(old.config.code_dir)
        assert wait_until(lambda: pid_gone(released), timeout=10)
        assert staying in POOL.zygote_pids() and _invoke(kept)["ppid"] == staying
    finally:
        old.stop(timeout=2.0)
        kept.stop(timeout=2.0)


def test_zygotes_can_be_turned_off(tmp_path: Path, runtime_packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ZYGOTE_ENV, "0")
    function = _function(_code_dir(tmp_path, {"app.py": PROBE}), runtime_packages)
    try:
        answer = _invoke(function)
        assert answer["ppid"] == os.getpid() and answer["preloaded"] is False
    finally:
        function.stop(timeout=2.0)


def test_a_worker_that_exited_counts_as_exited_before_its_zygote_reports_it() -> None:
    """Between a worker's exit and the zygote's report of it (after reaping), the worker is a zombie: an idle
    environment that died then must already count as exited, or an invocation is handed a dead one."""

    class Unreported:
        def exited(self, pid: int) -> bool:
            return False

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_until(lambda: state(child.pid) == "Z")  # exited, not reaped: what the zygote has not reported
        assert ZygoteLaunched(Unreported(), child.pid).has_exited()  # type: ignore[arg-type]
    finally:
        child.wait(5)
