"""Waiting on conditions with a deadline: the only way jobkit waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline; says what was expected and what was last seen."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


def wait_for[T](fetch: Callable[[], T], until: Callable[[T], bool], *, timeout: float, describe: str,
             interval: float = 0.05, max_interval: float = 0.5) -> T:
    """Observes ``fetch()`` until ``until(observed)`` holds; at the deadline, fails with the last observation."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        observed = fetch()
        if until(observed):
            return observed
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g} s waiting for {describe}; last seen: {observed!r}", observed,
            )
        # polls an external system between observations, never past the deadline
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval)
