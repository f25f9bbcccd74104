"""Waiting on conditions with a deadline: the only way jobkit waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline; says what was expected and what was last seen."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


def wait_for[T](fetch: Callable[[], T], until: Callable[[T], bool], *, timeout: float, describe: str,
             interval: float = 0.05, max_interval: float = 0.5,
             progress: Callable[[T], Hashable] | None = None) -> T:
    """Observes ``fetch()`` until ``until(observed)`` holds; at the deadline, fails with the last observation.

    With ``progress``, the deadline runs from the last change of ``progress(observed)``: a long run that keeps
    moving (a soak on a slow target) is waited on, one that stalls fails ``timeout`` seconds after its last step.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    unseen = object()
    last_step: object = unseen
    while True:
        observed = fetch()
        if until(observed):
            return observed
        if progress is not None and (step := progress(observed)) != last_step:
            if last_step is not unseen:  # the first observation sets the baseline; the deadline runs from the start
                deadline = time.monotonic() + timeout
            last_step = step
        if time.monotonic() >= deadline:
            stalled = " without progress" if progress is not None else ""
            raise WaitTimeout(
                f"timed out after {timeout:g} s{stalled} waiting for {describe}; last seen: {observed!r}", observed,
            )
        # polls an external system between observations, never past the deadline
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval)
