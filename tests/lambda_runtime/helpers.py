"""Helpers shared by the local Lambda runtime's tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

from jobkit.processes import state


def new_request_id() -> str:
    return str(uuid.uuid4())


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (tests wait on conditions, never fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pid_gone(pid: int) -> bool:
    """True once no process `pid` exists any more (or only as a zombie of someone else's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return state(pid) in (None, "Z")
