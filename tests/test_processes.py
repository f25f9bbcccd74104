"""The process table behind stopping an engine and measuring its memory."""

from __future__ import annotations

import os
import subprocess
import sys

from jobkit.processes import cpu_seconds, descendants, process_table


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
