"""The process table behind stopping an engine and measuring its memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress

from jobkit.processes import command_line, cpu_seconds, descendants, process_table, started_as


def test_descendants_reach_grandchildren_and_leave_out_the_root_and_others() -> None:
    code = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); " \
           "print(p.pid, flush=True); p.wait()"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        table = process_table()
        assert table[child.pid].ppid == os.getpid()
        found = descendants(os.getpid(), table)
        assert {child.pid, grandchild} <= found
        assert os.getpid() not in found and os.getppid() not in found
    finally:
        for pid in descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait(5)


def test_cpu_seconds_grow_with_the_work_a_process_does_and_end_with_it() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 0.5\n"
                             "while time.process_time() < end: pass\nprint('done', flush=True)\ninput()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout is not None
        assert busy.stdout.readline() == "done\n"
        used = cpu_seconds(busy.pid)
        assert used is not None and used >= 0.45
    finally:
        busy.kill()
        busy.wait(5)
    assert cpu_seconds(busy.pid) is None


SLEEP = "import time; print('up', flush=True); time.sleep(60)"


def _sleeper(*args: str, own_group: bool = True) -> subprocess.Popen[str]:
    """A sleeping Python with ``args``, returned once it runs them (before, /proc shows its parent's)."""
    process = subprocess.Popen([sys.executable, "-c", SLEEP, *args], stdout=subprocess.PIPE, text=True,
                               start_new_session=own_group)
    assert process.stdout is not None and process.stdout.readline() == "up\n"
    return process


def _kill(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(5)


def test_command_line_is_a_process_s_arguments_and_none_once_it_is_gone() -> None:
    child = _sleeper("an argument with spaces", "")
    try:
        assert command_line(child.pid) == [sys.executable, "-c", SLEEP, "an argument with spaces", ""]
    finally:
        _kill(child)
    assert command_line(child.pid) is None


def test_started_as_needs_the_command_a_group_of_its_own_and_a_live_process() -> None:
    command = ("-m", "jobkit.targets.embedded")
    leader = _sleeper(*command)
    member = _sleeper(*command, own_group=False)  # in the test's process group
    other = _sleeper()
    try:
        assert started_as(leader.pid, command)
        assert not started_as(member.pid, command)
        assert not started_as(other.pid, command)
        assert not started_as(leader.pid, ("-m", "jobkit.targets"))  # whole arguments, not prefixes
    finally:
        _kill(leader, member, other)
    assert not started_as(leader.pid, command)
