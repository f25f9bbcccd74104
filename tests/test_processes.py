"""The process table behind stopping an engine and measuring its memory."""

from __future__ import annotations

import os
import subprocess
import sys

from jobkit.processes import descendants, process_table


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
