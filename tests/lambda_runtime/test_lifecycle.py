"""Environments over time: warm reuse, timeouts, crashes, the pool, prewarming and stopping."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from jobkit.lambda_runtime import ConcurrencyLimitError, FunctionStoppedError, InvocationResult, LocalFunction
from tests.lambda_runtime.conftest import MakeFunction
from tests.lambda_runtime.helpers import new_request_id, pid_gone, wait_until

COUNTER = """
import os
import subprocess
import time

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("child"):
        child = subprocess.Popen(["sleep", "60"])  # in the function's process group
        print("child", child.pid)
    if event.get("started"):
        open(event["started"], "w").close()
    print("pid", os.getpid())
    time.sleep(event.get("sleep", 0))
    if event.get("exit") is not None:
        os._exit(event["exit"])
    return {"count": COUNT, "pid": os.getpid()}
"""


def _invoke(function: LocalFunction, **event: object) -> InvocationResult:
    return function.invoke(json.dumps(event).encode(), new_request_id())


def _printed(logs: str, label: str) -> int:
    match = re.search(rf"^{label} (\d+)$", logs, re.MULTILINE)
    assert match, logs
    return int(match.group(1))


def test_environment_stays_warm_between_invocations(make_function: MakeFunction) -> None:
    function = make_function({"app.py": COUNTER})

    results = [_invoke(function).json() for _ in range(3)]

    assert [result["count"] for result in results] == [1, 2, 3]  # module state survives
    assert len({result["pid"] for result in results}) == 1
    assert function.environment_count == 1


def test_timeout_kills_the_process_group_and_the_next_invocation_starts_fresh(make_function: MakeFunction) -> None:
    function = make_function({"app.py": COUNTER}, timeout=1)
    assert _invoke(function).json()["count"] == 1
    request_id = new_request_id()

    started = time.monotonic()
    result = function.invoke(json.dumps({"sleep": 30, "child": True}).encode(), request_id)
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 4.0
    assert result.is_error and result.timed_out and result.error_type == "Sandbox.Timedout"
    assert result.json() == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert re.search(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {request_id} Task timed out after 1\.00 seconds$",
        result.logs,
        re.MULTILINE,
    )
    assert result.logs.splitlines()[-1].endswith("\tStatus: timeout")
    assert result.duration_ms == pytest.approx(1000.0, abs=1.0)
    # The function and the process it spawned are gone: no orphans.
    assert wait_until(lambda: pid_gone(_printed(result.logs, "pid")), timeout=3)
    assert wait_until(lambda: pid_gone(_printed(result.logs, "child")), timeout=3)

    after = _invoke(function)
    assert not after.is_error
    assert after.json()["count"] == 1  # a fresh process: module state reset
    assert after.init_duration_ms is not None


def test_an_answer_read_after_the_deadline_counts_when_the_handler_finished_in_time(
    make_function: MakeFunction, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loaded engine may read the answer late; the handler's own finish time decides, as on Lambda (found by
    the 10,000-job soak: finished jobs were reported as timed out and then failed by their error handler)."""
    from jobkit.lambda_runtime.channel import MessageChannel

    function = make_function({"app.py": COUNTER}, timeout=1)
    assert _invoke(function).json()["count"] == 1
    receive = MessageChannel.receive

    def starved(self: MessageChannel, deadline: float) -> dict[str, object] | None:
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.2)  # this thread got no CPU until past the deadline
        return receive(self, deadline)

    monkeypatch.setattr(MessageChannel, "receive", starved)
    result = _invoke(function)
    assert not result.is_error and not result.timed_out
    assert result.json()["count"] == 2  # the same environment: nothing was killed


def test_crash_is_runtime_exit_error_and_the_environment_is_replaced(make_function: MakeFunction) -> None:
    function = make_function({"app.py": COUNTER})
    request_id = new_request_id()

    result = function.invoke(b'{"exit": 3}', request_id)

    assert result.is_error and result.error_type == "Runtime.ExitError"
    assert result.json() == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3",
        "errorType": "Runtime.ExitError",
    }
    assert result.logs.splitlines()[-1].endswith("Status: error\tError Type: Runtime.ExitError")
    assert _invoke(function).json()["count"] == 1


def test_environment_that_died_while_idle_is_replaced_not_blamed(make_function: MakeFunction) -> None:
    function = make_function(
        {
            "app.py": """
            import os
            import threading

            def handler(event, context):
                if event.get("die_later"):
                    threading.Timer(0.1, os._exit, (0,)).start()  # after the answer: the environment dies idle
                return os.getpid()
            """
        }
    )
    pid = function.invoke(b'{"die_later": true}', new_request_id()).json()
    assert wait_until(lambda: pid_gone(pid), timeout=5)

    result = function.invoke(b"{}", new_request_id())

    assert not result.is_error and result.json() != pid
    assert function.environment_count == 1


def test_pool_runs_environments_side_by_side_up_to_its_limit(make_function: MakeFunction, tmp_path: Path) -> None:
    function = make_function({"app.py": COUNTER}, max_concurrency=2)
    markers = [tmp_path / "a.started", tmp_path / "b.started"]
    results: list[dict[str, int]] = []

    def call(marker: Path) -> None:
        results.append(_invoke(function, started=str(marker), sleep=0.5).json())

    threads = [threading.Thread(target=call, args=(marker,)) for marker in markers]
    for thread in threads:
        thread.start()
    # Both invocations are inside their handlers at the same time: two environments.
    assert wait_until(lambda: all(marker.exists() for marker in markers), timeout=5)
    for thread in threads:
        thread.join(10)

    assert len({result["pid"] for result in results}) == 2
    assert function.environment_count == 2


def test_callers_beyond_the_limit_wait_or_give_up(make_function: MakeFunction, tmp_path: Path) -> None:
    function = make_function({"app.py": COUNTER}, max_concurrency=1)
    marker = tmp_path / "busy"
    busy = threading.Thread(target=_invoke, args=(function,), kwargs={"started": str(marker), "sleep": 1})
    busy.start()
    assert wait_until(marker.exists, timeout=5)

    with pytest.raises(ConcurrencyLimitError):
        function.invoke(b"{}", new_request_id(), acquire_timeout=0.05)
    waited = function.invoke(b"{}", new_request_id(), acquire_timeout=10)  # queued behind the busy one
    busy.join(10)

    assert waited.json()["count"] == 2  # the same, now free, environment


def test_prewarm_runs_init_before_the_first_invocation(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "print('init ran')\n" + COUNTER})

    init = function.prewarm()
    result = _invoke(function)

    assert init.ok and init.logs == "init ran\n" and init.init_duration_ms > 0
    assert result.logs.startswith("init ran\nSTART RequestId:")  # Init output leads the first log
    assert result.init_duration_ms == pytest.approx(init.init_duration_ms)


def test_failed_prewarm_is_retried_and_reported_at_the_invocation(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "import nowhere\n"})

    init = function.prewarm()
    result = _invoke(function)

    assert not init.ok and init.error_type == "Runtime.ImportModuleError"
    assert json.loads(init.error_payload or b"")["errorType"] == "Runtime.ImportModuleError"
    assert result.error_type == "Runtime.ImportModuleError"
    assert "Phase: init\tStatus: error" in result.logs and "Phase: invoke\tStatus: error" in result.logs
    assert function.environment_count == 0


def test_stop_kills_every_process_and_refuses_new_invocations(make_function: MakeFunction) -> None:
    function = make_function({"app.py": COUNTER})
    result = _invoke(function, child=True)
    worker_pid, child_pid = result.json()["pid"], _printed(result.logs, "child")

    started = time.monotonic()
    function.stop(timeout=1.0)

    assert time.monotonic() - started < 3.0
    assert wait_until(lambda: pid_gone(worker_pid) and pid_gone(child_pid), timeout=3)
    with pytest.raises(FunctionStoppedError):
        _invoke(function)


def test_stop_interrupts_a_running_invocation(make_function: MakeFunction, tmp_path: Path) -> None:
    function = make_function({"app.py": COUNTER}, timeout=30)
    marker = tmp_path / "running"
    outcome: list[InvocationResult] = []
    running = threading.Thread(
        target=lambda: outcome.append(_invoke(function, started=str(marker), sleep=30)), daemon=True
    )
    running.start()
    assert wait_until(marker.exists, timeout=5)

    function.stop(timeout=0.5)
    running.join(10)

    assert not running.is_alive()
    assert outcome and outcome[0].error_type == "Runtime.ExitError"


def test_a_sped_up_clock_enforces_the_timeout_sooner_and_reports_the_configured_one(
    make_function: MakeFunction,
) -> None:
    function = make_function({"app.py": COUNTER}, timeout=16, time_scale=8, min_scaled_timeout=1.0)
    assert _invoke(function).json()["count"] == 1
    request_id = new_request_id()
    started = time.monotonic()
    result = function.invoke(json.dumps({"sleep": 30}).encode(), request_id)
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 5.0  # 16 s of sandbox time at 8x
    assert result.timed_out
    assert result.json()["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after 16.00 seconds"


def test_a_sped_up_clock_never_leaves_a_function_less_than_its_floor(make_function: MakeFunction) -> None:
    function = make_function({"app.py": COUNTER}, timeout=15, time_scale=20, min_scaled_timeout=3.0)
    request_id = new_request_id()
    started = time.monotonic()
    result = function.invoke(json.dumps({"sleep": 30}).encode(), request_id)
    assert result.timed_out
    assert 3.0 <= time.monotonic() - started < 6.0  # not 0.75 s: the function's own work is not sped up


def test_the_floor_under_a_sped_up_clock_is_10_real_seconds_and_never_above_the_timeout() -> None:
    from jobkit.lambda_runtime.environment import FunctionConfig

    def real(timeout: float, scale: float) -> float:
        return FunctionConfig(function_name="f", code_dir=Path("."), handler="app.handler", timeout=timeout,
                              time_scale=scale).real_timeout

    assert real(15, 20) == 10.0  # the processors' 15 s at the test suite's 20x
    assert real(300, 20) == 15.0  # scaled when that is longer than the floor
    assert real(3, 20) == 3.0  # never longer than the configured timeout
    assert real(15, 1) == 15.0


def test_retire_lets_the_running_invocation_finish_and_takes_no_new_one(make_function: MakeFunction,
                                                                        tmp_path: Path) -> None:
    """What an engine does when a function's code or configuration changes: the invocation under way ends on
    its environment, which then goes; the idle one goes at once."""
    function = make_function({"app.py": COUNTER}, timeout=30, max_concurrency=2)
    marker = tmp_path / "running"
    outcome: list[InvocationResult] = []
    running = threading.Thread(
        target=lambda: outcome.append(_invoke(function, started=str(marker), sleep=1)), daemon=True
    )
    running.start()
    assert wait_until(marker.exists, timeout=5)
    idle_pid = _invoke(function).json()["pid"]  # a second environment, idle once this returns

    function.retire()
    assert wait_until(lambda: pid_gone(idle_pid), timeout=10)
    with pytest.raises(FunctionStoppedError):
        _invoke(function)
    assert function.wait_retired(timeout=10)
    running.join(10)
    assert outcome and not outcome[0].is_error and outcome[0].json()["pid"] != idle_pid
    assert function.environment_count == 0
